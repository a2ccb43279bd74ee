"""Labelling: weak supervisors' judgements as dataset columns, cached on disk, with provenance.

``label_dataset`` writes the columns of ``raven_align.columns``; the provenance (who judged, with what settings)
travels in ``dataset.info.description`` and in a sidecar file when saved.
"""

from .label import column_hash, label_dataset, label_dataset_dict, output_columns
from .provenance import (
    SIDECAR,
    load_labeled,
    push_labeled_to_hub,
    read_provenance,
    save_labeled,
    supervisor_identities,
    supervisor_identity,
)

__all__ = [
    "SIDECAR",
    "column_hash",
    "label_dataset",
    "label_dataset_dict",
    "load_labeled",
    "output_columns",
    "push_labeled_to_hub",
    "read_provenance",
    "save_labeled",
    "supervisor_identities",
    "supervisor_identity",
]
