"""`provisioner check`: ask each destination itself whether the platform's writes would land.

Each destination type's own service is asked through its cloud SDK, with the manifests'
resolved credentials, read-only unless a test record is asked for. One module per type,
named after it (type `some-service`: module `some_service`), imports that SDK and says how
to ask; the SDKs are an optional extra (`pip install 'provisioner[check]'`). `model`,
`record`, `pool` and `run` import none of them, and `run` imports a type's module only when
a check of that type runs, so nothing else of the tool ever loads an SDK.
"""
