"""Where certificate material lives, named once for the daemon, the CLI and the nodes (no cryptography
import: a node reads these names before it knows whether it will mint anything)."""

from __future__ import annotations

# The root of a dream home: <home>/ca/root.pem (the certificate to trust) and root-key.pem (0600).
CA_DIR = "ca"
ROOT_CERT = "root.pem"
ROOT_KEY = "root-key.pem"
# An issuer in an auth node's folder: issuer/cert.pem (its certificate, then the root's) and key.pem.
ISSUER_DIR = "issuer"
ISSUER_CERT = "cert.pem"
ISSUER_KEY = "key.pem"
