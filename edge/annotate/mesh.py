"""Which of MediaPipe's 468 face-mesh points outline each face part.

The loops are MediaPipe's own contour edge lists (``mediapipe/python/solutions/
face_mesh_connections.py`` of the 0.10.21 wheel: FACEMESH_LIPS, _LEFT_EYE, _RIGHT_EYE,
_LEFT_EYEBROW, _RIGHT_EYEBROW, _FACE_OVAL) chained into closed loops, plus a nose outline through
the mesh's nose-bridge, alar and nostril points. Sides are the subject's: MediaPipe's "left eye"
(points 263, 362, ...) is the subject's left, which lies on the image right of a frontal,
unmirrored photo, as CelebAMask-HQ's ``l_eye`` does (``edge/schemas/schemas.yaml``).
"""
from __future__ import annotations

NUM_POINTS = 468

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

# Lips: outer and inner curves from the subject's right mouth corner (61 outer, 78 inner) to the left one.
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
UPPER_LIP_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_LIP_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)

# Eyes: upper lid then lower lid, as one loop.
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)

# Brows: the upper edge from the outer end inwards, then the lower edge back out.
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)

# Nose: from the bridge between the eyes down the subject's right side, round the nostrils, and up
# the left side.
NOSE = (168, 193, 245, 188, 174, 217, 126, 142, 129, 98, 97, 2, 326, 327, 358, 371, 355, 437, 399, 412,
        465, 417)

# Points of the eye corners (right outer, left outer) that level the landmark ROI, as MediaPipe's
# face_landmark_landmarks_to_roi graph does.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
NOSE_TIP = 1
# The face oval's extreme points at eye height, for the yaw estimate.
RIGHT_CHEEK, LEFT_CHEEK = 234, 454
