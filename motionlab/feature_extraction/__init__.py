"""Feature extraction: audio, motion (BVH), keypoints, text, scalers and importers of published layouts."""
