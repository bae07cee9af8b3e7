"""The processing feature's job kinds, in one module: the integrity check's
jobs queue the processing job again, and the commands queue both."""

from __future__ import annotations

PROCESS_IMAGE = "process_image"
RESCAN_IMAGE = "rescan_image"
VERIFY_IMAGE = "verify_image"  # imghost verify: one image's blobs read back and compared
CLAMD_CHECK = "clamd_check"  # periodic: clamd reachable, its stream limit large enough
