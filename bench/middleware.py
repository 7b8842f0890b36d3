"""Counts the SQL queries of each request into an `X-Query-Count` response header (bench only)."""

from django.db import connection


class QueryCountMiddleware:
    """Sync middleware: the view below it runs in the same thread, on the same connection."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0

        def counter(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Query-Count"] = str(count)
        return response
