"""edge: GB/T 28181 video edge node for village monitoring rooms (雪亮工程)."""

__version__ = "0.1.0"
