"""The desktop app: the only part of mnistpad that imports Qt (PySide6) and pyqtgraph."""
