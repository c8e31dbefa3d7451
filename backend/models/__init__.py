"""Tables. Importing this package registers every model on the metadata."""

from backend.models.assignment import Assignment
from backend.models.audit import AuditLog
from backend.models.auth import AuthToken, BindingCode, WechatAccessToken
from backend.models.base import Base, utcnow
from backend.models.card import CardStatus, HouseholdCard
from backend.models.form import FormStatus, FormVersion
from backend.models.household import (
    Household,
    HouseholdCategory,
    Member,
    MonitorType,
    PovertyStatus,
)
from backend.models.notification import Notification, NotificationKind, NotificationStatus
from backend.models.office import Office
from backend.models.photo import Photo, StorageStatus
from backend.models.problem import (
    Problem,
    ProblemEvent,
    ProblemSource,
    ProblemStatus,
    Report,
    ReportModeration,
    RoutingRule,
    ScreeningImport,
)
from backend.models.region import Region, RegionLevel
from backend.models.rollup import HouseholdVisitMonth, RegionVisitMonth
from backend.models.spot_check import SpotCheck, SpotCheckItem, SpotCheckOutcome
from backend.models.user import Role, RoleGrant, User
from backend.models.visit import LocationProposal, ReviewStatus, Visit, VisitCheck
from backend.models.warning import WarningFlag, WarningReason, WarningStatus

__all__ = [
    "Assignment",
    "AuditLog",
    "AuthToken",
    "Base",
    "BindingCode",
    "CardStatus",
    "FormStatus",
    "FormVersion",
    "Household",
    "HouseholdCard",
    "HouseholdCategory",
    "HouseholdVisitMonth",
    "LocationProposal",
    "Member",
    "MonitorType",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "Office",
    "Photo",
    "PovertyStatus",
    "Problem",
    "ProblemEvent",
    "ProblemSource",
    "ProblemStatus",
    "Region",
    "RegionLevel",
    "RegionVisitMonth",
    "Report",
    "ReportModeration",
    "ReviewStatus",
    "Role",
    "RoleGrant",
    "RoutingRule",
    "ScreeningImport",
    "SpotCheck",
    "SpotCheckItem",
    "SpotCheckOutcome",
    "StorageStatus",
    "User",
    "Visit",
    "VisitCheck",
    "WarningFlag",
    "WarningReason",
    "WarningStatus",
    "WechatAccessToken",
    "utcnow",
]
