"""A whole class at once: roster and class file -> plan -> setup, status, stop/start, teardown.

Labels are the only state (https://cloud.google.com/compute/docs/labeling-resources): every VM
and bucket of a class carries the course, the student's slug and a digest of the student's
e-mail, so a re-run, another instructor's laptop or a TA finds the class from the cloud alone.
"""
