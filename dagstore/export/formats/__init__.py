"""The export formats: one module each, registered here by name."""

from __future__ import annotations

from ..base import ExportFormat, FormatWriter
from ..errors import ExportError
from ..native import NativeExporter
from . import asr, brush, coco, conll, csvfmt, folders, labelstudio, spacy_docbin, spacy_ner, tablefmt, voc, yolo

REGISTRY: dict[ExportFormat, type[FormatWriter]] = {
    ExportFormat.FOLDERS: folders.FoldersExporter,
    ExportFormat.IMAGEFOLDER: folders.ImageFolderExporter,
    ExportFormat.YOLO: yolo.DarknetExporter,
    ExportFormat.YOLO_ULTRALYTICS: yolo.UltralyticsExporter,
    ExportFormat.COCO: coco.CocoExporter,
    ExportFormat.VOC: voc.VocExporter,
    ExportFormat.CSV: csvfmt.CsvExporter,
    ExportFormat.TSV: csvfmt.TsvExporter,
    ExportFormat.PARQUET: tablefmt.ParquetExporter,
    ExportFormat.JSONL: tablefmt.JsonlExporter,
    ExportFormat.SPACY_NER: spacy_ner.SpacyNerExporter,
    ExportFormat.SPACY: spacy_docbin.SpacyDocBinExporter,
    ExportFormat.CONLL2003: conll.Conll2003Exporter,
    ExportFormat.JSON: labelstudio.LabelStudioJsonExporter,
    ExportFormat.JSON_MIN: labelstudio.LabelStudioJsonMinExporter,
    ExportFormat.ASR_MANIFEST: asr.AsrManifestExporter,
    ExportFormat.BRUSH_TO_PNG: brush.BrushPngExporter,
    ExportFormat.BRUSH_TO_NUMPY: brush.BrushNumpyExporter,
}


def get_format_writer(export_format: str | ExportFormat | None) -> FormatWriter:
    """A new exporter for the named format (any case); None is dagstore's native layout."""
    if export_format is None:
        return NativeExporter()
    fmt = ExportFormat.parse(export_format)
    try:
        return REGISTRY[fmt]()
    except KeyError:
        raise ExportError(f"export format {fmt.value} is not available") from None
