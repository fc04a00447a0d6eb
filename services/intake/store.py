"""Collections of the intake service and the indexes their queries need."""

from __future__ import annotations

from pymongo.database import Database

from services.common import outbox
from services.common.mongo import Index, asc
from services.common.ratelimit import INDEXES as RATE_INDEXES

PETITIONS = "petitions"
ISSUES = "issues"
# The clustering centroid of each issue, apart from the issue: it is the biggest part
# of an issue (up to 400 weighted features) and only the clusterer reads it, while
# lists, counters and heat read and write the issue on every petition.
CENTROIDS = "issue_centroids"
# (issue_id, petitioner fingerprint) pairs, one document each: counts distinct
# petitioners of an issue without a growing array in the issue document.
PETITIONERS = "issue_petitioners"
META = "meta"

INDEXES = [
    Index(PETITIONS, asc("tracking_code"), unique=True, name="tracking_code"),
    Index(PETITIONS, asc("source_system", "external_ref"), name="external_ref"),
    Index(PETITIONS, asc("province_code", "ward_code", "category", "created_at"),
          name="petition_filters"),
    Index(PETITIONS, asc("status", "created_at"), name="petition_status"),
    Index(PETITIONS, asc("issue_id", "created_at"), name="petition_issue"),
    Index(PETITIONS, asc("ungrouped"), name="petition_ungrouped"),
    # the newest-first walk (services/common/paging.py) and word search
    Index(PETITIONS, asc("day"), name="petition_day"),
    Index(PETITIONS, asc("month"), name="petition_month"),
    # an array of words: GIN only (see deploy/postgres/tuning.sql)
    Index(PETITIONS, asc("terms"), name="gin_only_terms"),
    outbox.index(PETITIONS),
    Index(CENTROIDS, asc("bucket", "status"), name="centroid_bucket"),
    Index(ISSUES, asc("province_code", "ward_code", "status", "heat"), name="issue_filters"),
    Index(ISSUES, asc("locality.province_code", "status", "heat"), name="issue_heat"),
    Index(ISSUES, asc("status", "last_petition_at"), name="issue_recent"),
    Index(ISSUES, asc("trending"), name="issue_trending"),
    # the hottest-first and newest-first walks (services/common/paging.py)
    Index(ISSUES, asc("heat_band"), name="issue_heat_band"),
    Index(ISSUES, asc("heat_tier"), name="issue_heat_tier"),
    Index(ISSUES, asc("day"), name="issue_day"),
    Index(ISSUES, asc("month"), name="issue_month"),
    outbox.index(ISSUES),
    Index(PETITIONERS, asc("issue_id", "fingerprint"), unique=True, name="issue_fingerprint"),
    *RATE_INDEXES,
]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.petitions = db[PETITIONS]
        self.issues = db[ISSUES]
        self.centroids = db[CENTROIDS]
        self.petitioners = db[PETITIONERS]
        self.meta = db[META]
