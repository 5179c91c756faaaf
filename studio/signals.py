"""Signal receivers of the platform core (connected in ``StudioConfig.ready``).

A membership saved or deleted tells the member's open websockets to re-check
access, after the transaction commits; a logout tells the sockets of that
session to close (``studio.access_watch``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from studio.access_watch import access_changed_broadcast, session_fingerprint
from studio.models import Membership


@receiver(post_save, sender=Membership, dispatch_uid="studio.membership_saved")
@receiver(post_delete, sender=Membership, dispatch_uid="studio.membership_deleted")
def membership_changed(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    """Queue an ``access.changed`` message to the member's sockets, sent on commit."""
    transaction.on_commit(partial(access_changed_broadcast, user_id=instance.user_id, project_id=instance.project_id))


@receiver(user_logged_out, dispatch_uid="studio.session_ended")
def session_ended(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Close the websockets opened with the session being logged out."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and key:
        transaction.on_commit(
            partial(access_changed_broadcast, user_id=user.pk, ended_session=session_fingerprint(key))
        )
