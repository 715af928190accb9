"""Landmark-guided auto-annotation of face photos and videos (``edgeparse annotate``).

The idea is LaPa's PPA step (Liu et al., AAAI 2020): dense landmarks drive a pixel-level
annotation. Here the landmarks are MediaPipe's 468-point face mesh (``landmarks``); each inner
part is a smooth contour fitted through its mesh points (``parts``); skin is refined from the face
oval by a colour model (GrabCut) and hair comes from a hair segmenter (``segmenters``); a person
mask separates background from the person's parts no landmark covers (ears, neck, cloth), which
get the ignore label; everything is merged in one fixed order (``compose``). ``pipeline`` runs
images and videos and ``outputs`` writes the folder dataset (images/ + masks/), overlays and JSON.
"""
