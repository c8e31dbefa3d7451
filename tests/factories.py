"""factory_boy factories and a small standard world for tests."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import select

from backend.extensions import db
from backend.models import (
    Assignment,
    FormVersion,
    Household,
    HouseholdCard,
    Member,
    Photo,
    Region,
    Role,
    RoleGrant,
    User,
    Visit,
)
from backend.services.auth import hash_password, issue_token
from backend.services.idnumber import make_id_number

PASSWORD = "Correct-Horse-9"
_seq = itertools.count(1)


@lru_cache(maxsize=1)
def password_hash() -> str:
    """One Argon2 hash shared by all test users: hashing is deliberately slow."""
    return hash_password(password=PASSWORD)


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class RegionFactory(_Base):
    class Meta:
        model = Region

    code = factory.Sequence(lambda n: f"5001510{n:05d}")
    name = factory.Sequence(lambda n: f"测试地区{n}")
    level = "village"
    parent = None
    path = factory.LazyAttribute(lambda o: (o.parent.path if o.parent else "/") + o.code + "/")


class HouseholdFactory(_Base):
    class Meta:
        model = Household

    number = factory.Sequence(lambda n: f"HH{n:08d}")
    region = factory.SubFactory(RegionFactory, level="group")
    village = factory.LazyAttribute(lambda o: o.region.parent or o.region)
    region_path = factory.LazyAttribute(lambda o: o.region.path)
    head_name = factory.Sequence(lambda n: f"测户主{n}")
    address = "测试地址"
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    lat = 29.80
    lon = 106.05
    category = "registered_poor"
    poverty_status = "lifted"


class MemberFactory(_Base):
    class Meta:
        model = Member

    household = factory.SubFactory(HouseholdFactory)
    name = factory.Sequence(lambda n: f"测成员{n}")
    relation = "户主"
    birth_date = date(1970, 5, 17)
    sex = "M"
    id_number = factory.LazyAttribute(
        lambda o: make_id_number(area="500224", born=o.birth_date, sequence=next(_seq) * 2 + 1)
    )
    schooling = "初中"
    medical_insurance = True
    serious_illness_insurance = True
    doctor_name = "测医生"
    doctor_phone = "13700000000"
    chronic_illness = "高血压"


class UserFactory(_Base):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"测用户{n}")
    phone = factory.Sequence(lambda n: f"136{n:08d}")
    password_hash = factory.LazyFunction(password_hash)
    is_active = True


class GrantFactory(_Base):
    class Meta:
        model = RoleGrant

    user = factory.SubFactory(UserFactory)
    role = Role.HELPER.value
    region = factory.SubFactory(RegionFactory)
    office_code = None


class AssignmentFactory(_Base):
    class Meta:
        model = Assignment

    helper = factory.SubFactory(UserFactory)
    household = factory.SubFactory(HouseholdFactory)
    start_date = date(2026, 1, 1)
    end_date = None


class CardFactory(_Base):
    class Meta:
        model = HouseholdCard

    household = factory.SubFactory(HouseholdFactory)
    token = factory.Sequence(lambda n: f"TestCardToken{n:019d}")
    status = "active"


def user_with_role(role: Role, region: Region, office_code: str | None = None, **kw) -> User:
    """A user holding one role over ``region``."""
    user = UserFactory(**kw)
    GrantFactory(user=user, role=role.value, region=region, office_code=office_code)
    db.session.refresh(user)
    return user


def auth_headers(user: User) -> dict[str, str]:
    """Authorization headers carrying a real token for ``user``."""
    issued = issue_token(user=user, method="password")
    return {"Authorization": f"Bearer {issued.token}"}


@dataclass
class Town:
    """The standard test world."""

    district: Region
    town: Region
    village: Region
    group: Region
    other_village: Region
    other_group: Region
    household: Household  # in `village`, assigned to `helper`
    other_household: Household  # in `other_village`, assigned to `other_helper`
    helper: User
    other_helper: User
    village_cadre: User
    office: User
    town_admin: User
    inspector: User
    district_user: User
    helper_b: User  # a second helper in `village`, for reassignments
    far_district: Region
    far_village: Region
    far_household: Household  # in another district: outside every role's scope above
    far_helper: User

    def users_by_role(self) -> dict[str, User]:
        """One user per role, keyed by role name."""
        return {
            "helper": self.helper,
            "village_cadre": self.village_cadre,
            "office": self.office,
            "town_admin": self.town_admin,
            "inspector": self.inspector,
            "district": self.district_user,
        }


def build_town() -> Town:
    """District → town → two villages with a group each; one household per village."""
    district = RegionFactory(code="500151", name="铜梁区", level="district")
    town = RegionFactory(code="500151105", name="土桥镇", level="town", parent=district)
    village = RegionFactory(code="500151105201", name="石桥村", level="village", parent=town)
    group = RegionFactory(code="500151105201001", name="一组", level="group", parent=village)
    other_village = RegionFactory(code="500151105202", name="观音村", level="village", parent=town)
    other_group = RegionFactory(
        code="500151105202001", name="一组", level="group", parent=other_village
    )
    household = HouseholdFactory(region=group, village=village)
    MemberFactory(household=household, relation="户主", name=household.head_name)
    MemberFactory(
        household=household,
        relation="子女",
        birth_date=date(2014, 3, 2),
        sex="F",
        schooling="小学",
        chronic_illness=None,
    )
    other_household = HouseholdFactory(region=other_group, village=other_village)
    MemberFactory(household=other_household, name=other_household.head_name)

    helper = user_with_role(Role.HELPER, village, display_name="帮扶甲")
    other_helper = user_with_role(Role.HELPER, other_village, display_name="帮扶乙")
    AssignmentFactory(helper=helper, household=household)
    AssignmentFactory(helper=other_helper, household=other_household)
    village_cadre = user_with_role(Role.VILLAGE_CADRE, village, display_name="村干部")
    office = user_with_role(Role.OFFICE, town, office_code="nyfw", display_name="农服中心")
    town_admin = user_with_role(Role.TOWN_ADMIN, town, display_name="扶贫办")
    inspector = user_with_role(Role.INSPECTOR, town, display_name="纪委")
    district_user = user_with_role(Role.DISTRICT, district, display_name="区扶贫办")
    helper_b = user_with_role(Role.HELPER, village, display_name="帮扶丙")
    far_district = RegionFactory(code="500152", name="潼南区", level="district")
    far_town = RegionFactory(code="500152101", name="远方镇", level="town", parent=far_district)
    far_village = RegionFactory(
        code="500152101201", name="远方村", level="village", parent=far_town
    )
    far_group = RegionFactory(
        code="500152101201001", name="一组", level="group", parent=far_village
    )
    far_household = HouseholdFactory(region=far_group, village=far_village)
    MemberFactory(household=far_household, name=far_household.head_name)
    far_helper = user_with_role(Role.HELPER, far_village, display_name="远方帮扶")
    AssignmentFactory(helper=far_helper, household=far_household)
    db.session.refresh(household)
    db.session.refresh(other_household)
    db.session.refresh(far_household)
    return Town(
        helper_b=helper_b,
        far_district=far_district,
        far_village=far_village,
        far_household=far_household,
        far_helper=far_helper,
        district=district,
        town=town,
        village=village,
        group=group,
        other_village=other_village,
        other_group=other_group,
        household=household,
        other_household=other_household,
        helper=helper,
        other_helper=other_helper,
        village_cadre=village_cadre,
        office=office,
        town_admin=town_admin,
        inspector=inspector,
        district_user=district_user,
    )


class PhotoFactory(_Base):
    """A stored photo row (no image processing: the pipeline has its own tests)."""

    class Meta:
        model = Photo

    client_uuid = factory.LazyFunction(lambda: str(uuid.uuid4()))
    uploader = factory.SubFactory(UserFactory)
    uploader_id = factory.LazyAttribute(lambda o: o.uploader.id)
    purpose = "house"
    sha256 = factory.LazyFunction(lambda: uuid.uuid4().hex + uuid.uuid4().hex)
    phash = factory.Sequence(lambda n: f"{(n * 0x9E3779B97F4A7C15) % (1 << 64):016x}")
    mime = "image/jpeg"
    width = 1000
    height = 750
    size_bytes = 123456
    original_key = factory.LazyAttribute(lambda o: f"photos/{o.sha256}.jpg")
    display_key = factory.LazyAttribute(lambda o: f"photos/{o.sha256}.display.jpg")
    thumb_key = factory.LazyAttribute(lambda o: f"photos/{o.sha256}.thumb.jpg")

    class Params:
        uploader = None

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        kwargs.pop("uploader", None)
        return kwargs


class VisitFactory(_Base):
    """A stored visit row of ``helper`` to ``household``, no checks or photos (not submitted).

    It lasted 20 minutes and ended ``ended_at`` (an hour ago unless given), received then.
    """

    class Meta:
        model = Visit

    client_uuid = factory.LazyFunction(lambda: str(uuid.uuid4()))
    body_hash = "0" * 64
    household_id = factory.LazyAttribute(lambda o: o.household.id)
    helper_id = factory.LazyAttribute(lambda o: o.helper.id)
    form_version_id = factory.LazyFunction(
        lambda: db.session.scalar(select(FormVersion.id).where(FormVersion.version == 1))
    )
    answers = factory.LazyFunction(dict)
    ended_at = factory.LazyFunction(lambda: datetime.now(UTC) - timedelta(hours=1))
    started_at = factory.LazyAttribute(lambda o: o.ended_at - timedelta(minutes=20))
    received_at = factory.LazyAttribute(lambda o: o.ended_at)
    flags = factory.LazyFunction(list)

    class Params:
        household = None
        helper = None


def default_answers(household: Household, photos: dict[str, list[int]]) -> dict:
    """Complete answers to the default survey on which every check passes, for ``household``.

    ``photos`` maps the photo slots (photo_house, photo_water, photo_helper_with_head) to ids.
    """
    today = date.today()
    members = list(household.members)

    def age(m):
        b = m.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    everyone = {str(m.id): True for m in members}
    answers = {
        "food_secure": True,
        "clothing_secure": True,
        "school_status": {str(m.id): "in_school" for m in members if 6 <= age(m) <= 15},
        "college_students": 0,
        "medical_insurance": dict(everyone),
        "serious_illness_insurance": dict(everyone),
        "medical_aid": "covered",
        "doctor_contracted": dict(everyone),
        "family_doctor_name": "测医生",
        "knows_family_doctor": True,
        "hospitalized": False,
        "outpatient_treated": False,
        "house_grade": "A",
        "water_quantity": True,
        "water_quality": True,
        "water_outage_days": 0,
        "water_fetch_minutes": 0,
        "dibao_enrolled": False,
        "tekun_enrolled": False,
        "assistance_eligible_unenrolled": False,
        "hardship": False,
        "employment": {str(m.id): "farming" for m in members if 16 <= age(m) <= 64},
        "income_per_capita": 12000,
        "has_microloan": False,
        "collective_linkage": True,
        "sanitary_points": 80,
        "courtyard_points": 80,
        "knows_policies": True,
        "knows_health_policy": True,
        "remarks": "",
    }
    answers.update(photos)
    return answers
