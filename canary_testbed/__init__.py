"""The local testbed: a cluster's worth of stand-ins for rehearsing rollouts on one machine.

Not part of the controller: the controller image installs ``canary`` and
``analysis`` only, and nothing in them imports this package. It is installed
with the ``testbed`` extra (``pip install 'canary[testbed]'``; ``make demo`` and
``make test`` do it), which brings the emulated API server's dependency
(``kmock``). Parts:

- :mod:`canary_testbed.kubelet`: Deployment readiness after a delay, or never;
- :mod:`canary_testbed.mesh`: traffic split by the live routing object, exported
  under the meshes' real metric names;
- :mod:`canary_testbed.prom`: the real Prometheus server on a free port;
- :mod:`canary_testbed.meshcrds`: the mesh CRDs the emulated API server serves;
- :mod:`canary_testbed.testbed`: all of the above around the emulated API server
  (:mod:`kubeemu`) and the controller;
- :mod:`canary_testbed.demo`: ``canary demo``.
"""
