"""The Tchatator server: the Pactocole over TLS, stored with SQLModel.

``app`` (listener and request pipeline), ``table`` and ``commands`` (the
command table), ``storage`` (models, database, queries), ``config``,
``tls``, ``security``, ``limits``, ``push``, ``requestlog``, ``cli``.
"""
