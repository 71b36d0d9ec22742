"""The gateway's usual request relayed in C (`dream/http/_native/relay.c`, built by `scripts/setup-venv`).

A request whose whole head came in one read, of the usual shape (`dream.http.headparse`'s, but HEAD),
whose route the service has cached and whose best live substrate has an idle connection of the relay's
own is relayed without the Python layer: head parsed, request written upstream, answer parsed and
written back, in-flight count and inspector record kept, all in C. The service fills what it reads (the
route cache, in-flight counts, down marks) and holds every rule; anything unusual stays on the Python
path, from the start (`take` answers None) or from where C stopped (`Service._carry_on`).

The relay's upstream connections are its own (`Relay.upstream` is their protocol): when a request finds
none idle it goes the Python way, and the service opens one for the next (`Service._want_upstream`).

Without the extension, or with `DREAM_GATEWAY_RELAY=python`, every request takes the Python path; the
gateway says which in one log line when it starts.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from types import ModuleType

from dream.http.headparse import optional_extension
from dream.http.message import status_line

log = logging.getLogger("dream.gateway")

ENV = "DREAM_GATEWAY_RELAY"  # python: relay every request in Python, even with the extension built
# Upstream connections of the relay's own being opened to one substrate at once.
OPENING = 8
# The status lines the server writes, for the answers the relay writes itself.
STATUS_LINES = {status.value: status_line(status.value) for status in HTTPStatus}


def load() -> tuple[ModuleType | None, str]:
    """(the extension, "") when it is in use, else (None, why not); said in one log line."""
    module, why = optional_extension(ENV, "dream.http._relay", "the relay extension")
    if module is None:
        # Forced: said quietly. Missing: a warning, as the other extensions' are.
        say = log.info if why.startswith(ENV) else log.warning
        say("the gateway relays every request in Python (slower): %s", why)
    else:
        log.info("the gateway relays the usual request in C (%s=python relays in Python)", ENV)
    return module, why
