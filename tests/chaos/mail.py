"""Email in chaos tests: a file backend with a pause to kill a worker in, and a count of what it wrote.

:class:`EmailBackend` is chosen by a worker's environment (``EMAIL_BACKEND=tests.chaos.mail.EmailBackend``):

- ``CHAOS_EMAIL_PAUSE_SECONDS``: how long each send pauses (0: none);
- ``CHAOS_EMAIL_PAUSE``: ``before`` the message is written (the mail server has not accepted it
  yet), or ``after`` (accepted and flushed to its file: the worker has not yet recorded SENT).
"""

import email
import os
import time
from collections import Counter
from email import policy
from pathlib import Path

from django.core.mail.backends import filebased

SEPARATOR = b"\n" + b"-" * 79 + b"\n"
"""What Django's file backend writes after each message."""


class EmailBackend(filebased.EmailBackend):
    def send_messages(self, email_messages):
        pause = float(os.environ.get("CHAOS_EMAIL_PAUSE_SECONDS", "0"))
        after = os.environ.get("CHAOS_EMAIL_PAUSE", "before") == "after"
        if not after:
            time.sleep(pause)
        sent = super().send_messages(email_messages)
        if after:
            time.sleep(pause)
        return sent


def sent_emails(paths: list[Path]) -> Counter:
    """How many times each (recipient, subject) was written by the file backend.

    Counted by message, not by file: two connections opened in the same second may share a file.
    """
    sent: Counter = Counter()
    for path in paths:
        for chunk in path.read_bytes().split(SEPARATOR):
            if chunk.strip():
                message = email.message_from_bytes(chunk, policy=policy.default)
                sent[(str(message["To"]), str(message["Subject"]))] += 1
    return sent
