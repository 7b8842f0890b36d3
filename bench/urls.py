"""The product's URLs with the peers mounted beside them under /bench/peer/."""

from django.urls import include, path

from cxhub.urls import handler400, handler403, handler404, handler500
from cxhub.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/peer/", include("bench.peers.drf_conversations")),
    path("bench/peer/metrics/", include("bench.peers.metrics_scan")),
    path("bench/peer/search/", include("bench.peers.search_scan")),
    *product_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
