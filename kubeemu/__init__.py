"""kubeemu: an emulated Kubernetes API server for tests and demos, served over real HTTP.

A ``kmock.KubernetesEmulator`` with the gaps a controller's tests trip on
closed: resource versions and preconditions, watches with bookmarks, CRDs
with their OpenAPI schemas (pruning, defaults, validation), status
subresources, merge / strategic-merge / JSON patches, server-side apply with
field ownership, kube-apiserver's refusals (names, unknown fields), server-side
tables and OpenAPI schemas for kubectl, discovery, an audit summary of who
asked for what, and fault injection.

It imports nothing of the controller (``canary``), as kopf keeps kmock apart:
a controller is tested against it exactly as against a cluster. Modules:

- :mod:`kubeemu.model`: the vocabulary (Status errors, resource types, selectors);
- :mod:`kubeemu.patch`, :mod:`kubeemu.schema`: pure patch and schema logic;
- :mod:`kubeemu.validation`, :mod:`kubeemu.fieldmanager`: names and unknown fields, apply's field ownership;
- :mod:`kubeemu.faults`: errors, delays and cut connections at set rates, for failure tests;
- :mod:`kubeemu.store`: objects, resource versions, watches;
- :mod:`kubeemu.http`: the HTTP face (:class:`~kubeemu.http.EmulatedApiServer`);
- :mod:`kubeemu.discovery`, :mod:`kubeemu.table`, :mod:`kubeemu.audit`: what kubectl and RBAC tests read;
- :mod:`kubeemu.server`: running it in a thread, in a subprocess, or as ``python -m kubeemu.server``.
"""
