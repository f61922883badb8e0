"""Request checks shared by every page: control characters in parameters, the security headers."""

from __future__ import annotations

from django.shortcuts import render

from nodes.validation import control_character_error


def bad_input(request, message: str, status: int = 400):
    return render(request, "errors/400.html", {"message": message}, status=status)


class ControlCharacterMiddleware:
    """A query parameter or form field holding a control character (NUL above all: PostgreSQL refuses it in text)
    is refused with a page that says which, before any view or query sees it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = self._problem(request)
        if problem:
            return bad_input(request, problem)
        return self.get_response(request)

    @staticmethod
    def _problem(request) -> str:
        error = control_character_error(request.path)
        if error:
            return f"The address {error}."
        # tab, newline and carriage return are kept (textareas; a page's state carried in its query string)
        sources = [("query parameter", request.GET, True)]
        if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded",
                                                                 "multipart/form-data"):
            sources.append(("form field", request.POST, True))
        for what, params, multiline in sources:
            for key, values in params.lists():
                error = control_character_error(key)
                if error:
                    return f"A {what} name {error}."
                for value in values:
                    error = control_character_error(value, multiline=multiline)
                    if error:
                        return f"The {what} {key[:50]!r} {error}."
        return ""
