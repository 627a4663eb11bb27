"""The OpenROAD-flow-scripts (ORFS) backend: design folders, make runs, parsing of ORFS outputs.

- design.py    config.mk + constraint-<variant>.sdc + Verilog per design (MACs, array tile)
- run.py       `make DESIGN_CONFIG=... FLOW_VARIANT=...` in $FLOW_HOME, parallel, stage-failure reports
- metrics.py   stage JSON / metadata.json metrics (':' and '__' key spellings, repeated keys)
- reports.py   6_finish.rpt, 6_report.log, synth_stat.txt
- table.py     one run -> one row of the characterization table (embedded backend's columns)
- units.py     time unit per platform
- characterize.py  all of it for a list of variants
- importer.py  `eda import-orfs`: finished runs made elsewhere (trees, folders, single files) -> the table

Templates are in eda/orfs/templates/ (jinja2), read from the source tree.
"""

from eda.backends.orfs.design import OrfsDesignFolder, OrfsSettings, flow_variant_name, mac_array_design, write_design_folder
from eda.parsers.orfs.metrics import MetricsJson, canonical_key, merge_metrics, parse_metrics_json, read_stage_metrics
from eda.parsers.orfs.reports import FinishReport, ReportLog, SynthStat, parse_finish_report, parse_report_log, parse_synth_stat
from eda.backends.orfs.run import StageFailure, find_failed_stage, run_orfs
from eda.backends.orfs.table import ORFS_COLUMNS, characterization_row, orfs_table, read_orfs_run
from eda.parsers.orfs.units import platform_time_unit_ns

__all__ = [
    "FinishReport", "MetricsJson", "ORFS_COLUMNS", "OrfsDesignFolder", "OrfsSettings", "ReportLog", "StageFailure",
    "SynthStat", "canonical_key", "characterization_row", "find_failed_stage", "flow_variant_name", "mac_array_design",
    "merge_metrics", "orfs_table", "parse_finish_report", "parse_metrics_json", "parse_report_log", "parse_synth_stat",
    "platform_time_unit_ns", "read_orfs_run", "read_stage_metrics", "run_orfs", "write_design_folder",
]
