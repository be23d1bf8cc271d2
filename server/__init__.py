"""The Tchatator server: the Pactocole over TLS, stored with SQLModel.

``app`` (lifecycle, admission, start-up), ``connection`` (one client's
requests in, replies out, in order), ``dispatch`` (one request: checks,
handler, status line), ``table`` and ``commands`` (the command table and its
handlers), ``session`` (who a connection is), ``rules`` (what runs in the
database's transaction), ``storage`` (models, database, queries),
``config``, ``tls``, ``security``, ``limits``, ``push``, ``requestlog``,
``proxyheader`` (the PROXY protocol header of a load balancer),
``cluster`` (several instances), ``cli``. The map: ``docs/architecture.md``.
"""
