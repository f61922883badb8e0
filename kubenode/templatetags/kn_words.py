"""`{% load kn_words %}`: stored English values in the user's language (kubenode.words)."""
from django import template

from kubenode import words

register = template.Library()


@register.filter
def action_name(action):
    return words.action_name(action)


@register.filter
def outcome_name(outcome):
    return words.outcome_name(outcome)
