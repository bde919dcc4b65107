"""Does a query parse as PromQL? A thin wrapper over the ``promql-parser`` package.

``promql-parser`` is a Rust port of Prometheus' own parser (lexer, grammar and
the type checks Prometheus runs before evaluating: ``rate()`` needs a range
vector, aggregations need instant vectors, regexes must compile), so a query
it refuses is one Prometheus would refuse with a ``bad_data`` error.
"""

from __future__ import annotations

import promql_parser

__all__ = ["promql_error"]


def promql_error(query: str) -> str | None:
    """Why ``query`` is not valid PromQL, or None when it parses."""
    if not query.strip():
        return "the query is empty"
    try:
        promql_parser.parse(query)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as error:  # a panic in the Rust parser surfaces as a BaseException subclass
        reason = str(error).strip() or type(error).__name__
        return reason
    return None
