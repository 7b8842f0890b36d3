"""Shared REST pieces: pagination and the permission every agent endpoint uses."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable pages however many rows arrive meanwhile; newest first unless a view says."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"
