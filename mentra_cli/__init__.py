"""The command-line front of mentra: flags -> one runtime call -> render."""
