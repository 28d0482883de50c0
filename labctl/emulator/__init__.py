"""A local Compute Engine v1 REST emulator (and Cloud Storage via gcp-storage-emulator).

Usage::

    from labctl.emulator import Emulator

    with Emulator(compute_port=0, storage_port=0) as emu:
        os.environ.update(emu.env(project="labctl-demo"))

Importing this package is cheap: the discovery document is read on the first request and the
storage emulator is imported only when started.
"""

from labctl.emulator.emulator import DUMMY_TOKEN, Emulator, emulator_env

__all__ = ["DUMMY_TOKEN", "Emulator", "emulator_env"]
