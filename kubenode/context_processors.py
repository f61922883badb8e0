"""Template context every page shares."""

from kubenode import access


def permissions(request):
    """What the navigation and the pages may offer this user (the rules: kubenode.access)."""
    user = getattr(request, "user", None)
    return {"can_manage_templates": access.can_manage_templates(user),
            "allowed_actions": access.allowed_actions(user)}
