"""The access log: who viewed, exported or changed which personal data, when, and why."""
