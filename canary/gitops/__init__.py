"""GitOps tooling: check manifests before they are merged (``canary validate``), migrate from Flagger (``canary convert``).

Both work on files in a Git checkout, never on a cluster: :func:`validate_paths`
checks Canary, MetricTemplate and AlertProvider manifests against the CRD
schema, the models' rules and each other (templates, PromQL);
:func:`convert_paths` rewrites Flagger objects to ``canary.dev/v1beta1`` and
says what does not carry over. :func:`canary.cli.gitops.register` adds both
subcommands to the ``canary`` command.
"""

from canary.gitops.convert import Conversion, ConvertedFile, convert_paths, write_conversion
from canary.gitops.findings import Finding, Severity, to_json
from canary.gitops.validate import FLAGGER_MESSAGE, Report, validate_documents, validate_files, validate_paths
from canary.providers.promql import promql_error

__all__ = [
    "FLAGGER_MESSAGE",
    "Conversion",
    "ConvertedFile",
    "Finding",
    "Report",
    "Severity",
    "convert_paths",
    "promql_error",
    "to_json",
    "validate_documents",
    "validate_files",
    "validate_paths",
    "write_conversion",
]
