"""Retention: remove generation records, their artifacts and events once past their window, never what is
still served or named (`sweep`), once (`dyngen gc`) or periodically in the server (`sweep_loop`)."""

from __future__ import annotations

from dyngen.services.retention.sweep import SweepReport as SweepReport
from dyngen.services.retention.sweep import sweep as sweep
from dyngen.services.retention.sweep import sweep_loop as sweep_loop
