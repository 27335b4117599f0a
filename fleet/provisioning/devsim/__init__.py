"""Device simulator: simulated Android phones that a real adb server talks to over loopback TCP.

See ``docs/devsim.md``. Public API::

    from fleet.provisioning.devsim import Simulator, PhoneProfile, catalogue_profiles
"""

from .profile import Battery, Faults, Package, PhoneProfile, catalogue_profiles, load_profiles
from .simulator import AdbServerLink, Simulator, free_port

__all__ = [
    "AdbServerLink",
    "Battery",
    "Faults",
    "Package",
    "PhoneProfile",
    "Simulator",
    "catalogue_profiles",
    "free_port",
    "load_profiles",
]
