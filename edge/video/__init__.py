"""The on-device video demo: decode → detect/track faces → parse crops → smooth → overlay → encode.

Torch-free like the rest of ``edge``. Modules: ``detect``/``blazeface`` (face detectors from
pip-shipped models), ``track`` (IoU tracking between detections), ``crop`` (crop transforms and
paste-back), ``parse`` (one frame through detector, runner and smoother), ``stability``
(temporal smoothing and the flicker metric), ``overlay`` (colours, legend, HUD),
``sources``/``sinks`` (video I/O), ``pipeline`` (the threaded demo), ``demo`` (a bundle on a
video, shared by ``edgeparse demo`` and ``edgeparse bench --video``), ``clip`` (the synthetic
demo clip), ``strip`` (the README frame strip), ``config`` (``DemoCfg``) and the command
modules ``demo_cmd`` and ``clip_cmd``.
"""
