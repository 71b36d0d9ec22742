"""X.509 for dream's HTTPS: the local certificate authority of a dream home and the certificates it signs.

`authority` makes and keeps the home's root (`<DREAM_HOME>/ca/`), the issuing authority a universe's auth
nodes sign with (an intermediate of that root), and the certificate of a domain. Built on the
`cryptography` package, imported only by the parts that mint or read certificates (the daemon, `dream ca`,
auth when it issues): a node that serves no HTTPS never loads it.
"""
