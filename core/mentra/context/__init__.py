"""Context management: the token estimate, micro-compaction, auto-compaction (a summary of the
older history) and the ``compact`` tool. Reference: mentra 0.6.0's three layers (issue #15).

The `Compactor` (`mentra.context.compactor`) is a ``before_request`` entry of the agent's
hook pipeline: it abbreviates old tool results in each request, summarizes the older history
when a request passes the threshold (a marker item in the store; nothing is deleted), and
refuses a request over the window. Submodules are imported where used, so importing the
package (the config loader does) costs nothing.
"""
