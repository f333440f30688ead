"""Retention: personal data purged past its maximum age, except what a legal hold keeps."""
