"""A synthetic Tuqiao-like demo town (土桥镇, 铜梁区) for development, demos and load tests.

Everything here is fake on purpose: names carry "测" (张测三), ID numbers are checksum-valid but
generated, phones start with 199 and locations are random points around the town. The builder
is deterministic for a given ``seed`` and ``as_of`` date, and is meant for empty databases.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, insert, select

from backend.extensions import db
from backend.models import (
    Household,
    HouseholdCategory,
    Member,
    MonitorType,
    PovertyStatus,
    Region,
    RegionLevel,
    Role,
    RoleGrant,
    User,
)
from backend.models.office import STANDARD_OFFICES
from backend.services.assignments import assign_helper
from backend.services.audit import record_event
from backend.services.auth import hash_password
from backend.services.cards import ensure_village_cards
from backend.services.idnumber import make_id_number

DEFAULT_SEED = 20200301
DEFAULT_HOUSEHOLDS = 1500
# The seed document: "确保全镇131户建卡贫困户……".
DEFAULT_POOR = 131
DEFAULT_VILLAGES = 8
DEMO_PASSWORD = "Tuqiao-2020"

DISTRICT_CODE, DISTRICT_NAME = "500151", "铜梁区"
TOWN_CODE, TOWN_NAME = "500151105", "土桥镇"
# Tongliang's county code before it became a district; still the prefix of local ID numbers.
ID_AREA_CODE = "500224"
CENTER_LAT, CENTER_LON = 29.80, 106.05

# 六赢村 appears in the seed document; the other names are invented. 石桥村 and 观音村 come
# first so that the shipped roster template (village codes …201 and …202) imports into the demo.
VILLAGE_NAMES = [
    "石桥村",
    "观音村",
    "六赢村",
    "荷塘村",
    "新桥村",
    "永兴村",
    "高峰村",
    "双河村",
    "长岭村",
    "白鹤村",
    "青杠村",
    "龙井村",
]
GROUP_NAMES = ["一组", "二组", "三组", "四组", "五组", "六组"]
SURNAMES = "张王李刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜"
GIVEN_FIRST = "一二三四五六七八九十"
GIVEN_SECOND = "甲乙丙丁戊己庚辛"
DISABILITIES = [
    "肢体残疾二级",
    "肢体残疾四级",
    "视力残疾一级",
    "听力残疾三级",
    "智力残疾二级",
    "精神残疾三级",
]
CHRONIC_ILLNESSES = ["高血压", "糖尿病", "慢性阻塞性肺病", "冠心病", "类风湿关节炎", "脑梗后遗症"]
SCHOOL_EXCEPTIONS = ["辍学", "因病休学", "送教上门"]
SCHOOL_EXCEPTION_EVERY = 80

# Shares of the non-poor households; the rest are ordinary (一般农户).
SHARE_EDGE = 0.010
SHARE_SUDDEN = 0.005
SHARE_DIBAO = 0.030
SHARE_TEKUN = 0.010
SHARE_DISABLED = 0.015
# Shares of the registered poor households.
SHARE_NOT_LIFTED = 0.08
SHARE_UNSTABLE = 0.05  # lifted households flagged 脱贫不稳定户
SHARE_POOR_DIBAO = 0.25
SHARE_POOR_DISABLED = 0.10
SHARE_NO_LOCATION = 0.015
SHARE_HELPER_WECHAT_ONLY = 0.10
HELPER_TARGET_LOAD = 7.5
HELPER_MIN_LOAD, HELPER_MAX_LOAD = 5, 10


class DemoError(RuntimeError):
    """Raised when the demo town cannot be built on this database."""


@dataclass
class DemoSummary:
    """What the builder created."""

    villages: int = 0
    groups: int = 0
    households: int = 0
    members: int = 0
    poor: int = 0
    poor_lifted: int = 0
    poor_not_lifted: int = 0
    monitored: int = 0
    dibao: int = 0
    tekun: int = 0
    disabled: int = 0
    ordinary: int = 0
    helpers: int = 0
    users: int = 0
    cards: int = 0
    seconds: float = 0.0
    by_category: dict[str, int] = field(default_factory=dict)


def demo_logins() -> list[tuple[str, str, str]]:
    """The demo accounts as (role label, username, password), for scripts to print."""
    logins = [
        ("区扶贫办 (district)", "district", DEMO_PASSWORD),
        ("镇扶贫办 (town_admin)", "town_admin", DEMO_PASSWORD),
        ("镇纪委 (inspector)", "inspector", DEMO_PASSWORD),
    ]
    logins += [
        (f"{name} (office)", f"office_{code}", DEMO_PASSWORD) for code, name in STANDARD_OFFICES
    ]
    logins += [
        (f"村支两委 {VILLAGE_NAMES[0]} (village_cadre)", _cadre_username(1), DEMO_PASSWORD),
        (f"帮扶责任人 {VILLAGE_NAMES[0]} (helper)", _helper_username(1, 1), DEMO_PASSWORD),
    ]
    return logins


def database_is_empty() -> bool:
    """True when no region, user or household exists yet (offices are seeded by migration)."""
    for model in (Region, User, Household):
        if db.session.scalar(select(func.count()).select_from(model)):
            return False
    return True


def build_demo_town(
    *,
    households: int = DEFAULT_HOUSEHOLDS,
    poor: int = DEFAULT_POOR,
    villages: int = DEFAULT_VILLAGES,
    seed: int = DEFAULT_SEED,
    as_of: date | None = None,
    force: bool = False,
) -> DemoSummary:
    """Create the demo town in the current transaction (flush only; the caller commits)."""
    started = time.perf_counter()
    _check_arguments(households=households, poor=poor, villages=villages)
    if not database_is_empty() and not force:
        raise DemoError("数据库不是空的：演示数据只能装入空数据库（确需装入请加 --force）。")
    builder = _Builder(
        rng=random.Random(seed),
        as_of=as_of or date.today(),
        password_hash=hash_password(password=DEMO_PASSWORD),
    )
    builder.check_no_duplicates(villages=villages)
    builder.build(households=households, poor=poor, villages=villages)
    summary = builder.summary
    summary.seconds = round(time.perf_counter() - started, 2)
    record_event(
        actor=None,
        action="demo.loaded",
        subject="demo",
        detail={
            "seed": seed,
            "households": summary.households,
            "poor": summary.poor,
            "villages": summary.villages,
            "helpers": summary.helpers,
        },
    )
    return summary


def _check_arguments(*, households: int, poor: int, villages: int) -> None:
    if not 1 <= villages <= len(VILLAGE_NAMES):
        raise DemoError(f"村的数量应在 1 到 {len(VILLAGE_NAMES)} 之间。")
    if households < villages * 3 * HELPER_MIN_LOAD:
        raise DemoError(f"户数太少：每个村至少需要 {3 * HELPER_MIN_LOAD} 户。")
    if not 0 <= poor <= households:
        raise DemoError("贫困户数应在 0 到总户数之间。")


def _cadre_username(village_no: int) -> str:
    return f"cadre_{village_no:02d}"


def _helper_username(village_no: int, helper_no: int) -> str:
    return f"helper_{village_no:02d}_{helper_no:02d}"


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _age_on(born: date, as_of: date) -> int:
    return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))


@dataclass
class _Person:
    relation: str
    sex: str
    age: int
    surname: str


class _Builder:
    """Holds the random source and counters while one town is generated."""

    def __init__(self, *, rng: random.Random, as_of: date, password_hash: str) -> None:
        self.rng = rng
        self.as_of = as_of
        self.password_hash = password_hash
        self.summary = DemoSummary()
        self.used_ids: set[str] = set(db.session.scalars(select(Member.id_number)).all())
        self.user_phone_seq = 0
        self.school_age_seen = 0
        self.doctors: dict[int, list[tuple[str, str]]] = {}

    # ----- guards -----------------------------------------------------------------------

    def check_no_duplicates(self, *, villages: int) -> None:
        """Refuse to add a second demo town next to an existing one."""
        usernames = [u for _, u, _ in demo_logins()] + [
            _cadre_username(i + 1) for i in range(villages)
        ]
        clash = db.session.scalar(select(User.username).where(User.username.in_(usernames)))
        if clash:
            raise DemoError(f"演示账号 {clash} 已存在：演示数据已装入过，不会重复装入。")
        prefix = f"/{DISTRICT_CODE}/{TOWN_CODE}/"
        existing = db.session.scalar(
            select(func.count()).select_from(Region).where(Region.path.startswith(prefix))
        )
        if existing:
            raise DemoError(f"{TOWN_NAME}下已有村组数据：演示数据只用于空数据库。")

    # ----- regions ----------------------------------------------------------------------

    def _region(self, *, code: str, name: str, level: RegionLevel, parent: Region | None):
        found = db.session.scalar(select(Region).where(Region.code == code))
        if found is not None:
            return found
        path = (parent.path if parent else "/") + code + "/"
        region = Region(code=code, name=name, level=level.value, parent=parent, path=path)
        db.session.add(region)
        return region

    def build(self, *, households: int, poor: int, villages: int) -> None:
        """Generate regions, households, members, users, assignments and cards."""
        rng = self.rng
        district = self._region(
            code=DISTRICT_CODE, name=DISTRICT_NAME, level=RegionLevel.DISTRICT, parent=None
        )
        town = self._region(code=TOWN_CODE, name=TOWN_NAME, level=RegionLevel.TOWN, parent=district)
        village_rows: list[Region] = []
        group_rows: list[list[Region]] = []
        for v in range(villages):
            village = Region(
                code=f"{TOWN_CODE}{201 + v:03d}",
                name=VILLAGE_NAMES[v],
                level=RegionLevel.VILLAGE.value,
                parent=town,
                path=f"{town.path}{TOWN_CODE}{201 + v:03d}/",
            )
            groups = [
                Region(
                    code=f"{village.code}{g + 1:03d}",
                    name=GROUP_NAMES[g],
                    level=RegionLevel.GROUP.value,
                    parent=village,
                    path=f"{village.path}{village.code}{g + 1:03d}/",
                )
                for g in range(rng.randint(3, 6))
            ]
            village_rows.append(village)
            group_rows.append(groups)
            db.session.add_all([village, *groups])
        db.session.flush()
        self.summary.villages = len(village_rows)
        self.summary.groups = sum(len(g) for g in group_rows)

        categories = self._categories(households=households, poor=poor)
        per_village = _split(households, [rng.uniform(0.7, 1.3) for _ in range(villages)])
        users = self._staff_users(district=district, town=town, villages=village_rows)

        cursor = 0
        all_households: list[Household] = []
        helpers_by_village: list[list[User]] = []
        for v, (village, groups) in enumerate(zip(village_rows, group_rows, strict=True)):
            centre = self._village_centre(v, villages)
            per_group = _split(per_village[v], [rng.uniform(0.6, 1.4) for _ in groups])
            village_households: list[Household] = []
            member_rows: list[list[dict]] = []
            for group, count in zip(groups, per_group, strict=True):
                group_centre = (
                    centre[0] + rng.uniform(-0.009, 0.009),
                    centre[1] + rng.uniform(-0.009, 0.009),
                )
                for k in range(count):
                    spec = categories[cursor]
                    cursor += 1
                    household, rows = self._household(
                        village=village,
                        group=group,
                        number=f"{group.code}{k + 1:03d}",
                        seq=cursor,
                        spec=spec,
                        centre=group_centre,
                    )
                    village_households.append(household)
                    member_rows.append(rows)
            db.session.add_all(village_households)
            db.session.flush()
            # Members go in as one bulk INSERT: thousands of ORM objects are the slow part.
            for household, rows in zip(village_households, member_rows, strict=True):
                for row in rows:
                    row["household_id"] = household.id
            db.session.execute(insert(Member), [row for rows in member_rows for row in rows])
            all_households.extend(village_households)
            helpers_by_village.append(
                self._helpers(village=village, village_no=v + 1, count=len(village_households))
            )
        users.extend(h for hs in helpers_by_village for h in hs)
        db.session.flush()
        self.summary.users = len(users)

        start = self.as_of.replace(day=1) - timedelta(days=365)
        for village_households, helpers in zip(
            _chunk_by_village(all_households, village_rows), helpers_by_village, strict=True
        ):
            loads = _split(len(village_households), [1] * len(helpers))
            index = 0
            for helper, load in zip(helpers, loads, strict=True):
                for household in village_households[index : index + load]:
                    assign_helper(household=household, helper=helper, start_date=start)
                index += load
        for village, village_households in zip(
            village_rows, _chunk_by_village(all_households, village_rows), strict=True
        ):
            cards = ensure_village_cards(village_id=village.id, households=village_households)
            self.summary.cards += len(cards)
        self.summary.households = len(all_households)

    # ----- households -------------------------------------------------------------------

    def _categories(self, *, households: int, poor: int) -> list[dict]:
        """One spec per household: category and flags, in a shuffled but seeded order."""
        rng = self.rng
        rest = households - poor
        specs: list[dict] = []
        not_lifted = min(poor, max(1, round(poor * SHARE_NOT_LIFTED))) if poor else 0
        unstable = min(poor - not_lifted, round(poor * SHARE_UNSTABLE))
        for i in range(poor):
            lifted = i >= not_lifted
            spec = {
                "category": HouseholdCategory.REGISTERED_POOR,
                "poverty_status": PovertyStatus.LIFTED if lifted else PovertyStatus.NOT_LIFTED,
                "is_dibao": rng.random() < SHARE_POOR_DIBAO,
                "is_disabled": rng.random() < SHARE_POOR_DISABLED,
            }
            if lifted and i < not_lifted + unstable:
                spec["monitor_type"] = MonitorType.UNSTABLE
            specs.append(spec)
        counts = [
            (HouseholdCategory.MONITORED, MonitorType.EDGE, SHARE_EDGE),
            (HouseholdCategory.MONITORED, MonitorType.SUDDEN_HARDSHIP, SHARE_SUDDEN),
            (HouseholdCategory.DIBAO, None, SHARE_DIBAO),
            (HouseholdCategory.TEKUN, None, SHARE_TEKUN),
            (HouseholdCategory.DISABLED, None, SHARE_DISABLED),
        ]
        for category, monitor_type, share in counts:
            n = min(households - len(specs), max(1, round(rest * share)))
            for _ in range(n):
                spec = {"category": category}
                if monitor_type:
                    spec["monitor_type"] = monitor_type
                specs.append(spec)
        while len(specs) < households:
            specs.append({"category": HouseholdCategory.ORDINARY})
        rng.shuffle(specs)
        return specs

    def _village_centre(self, v: int, villages: int) -> tuple[float, float]:
        angle = 2 * math.pi * v / villages + self.rng.uniform(-0.3, 0.3)
        radius = self.rng.uniform(0.02, 0.05)
        return (CENTER_LAT + radius * math.sin(angle), CENTER_LON + radius * math.cos(angle))

    def _household(
        self,
        *,
        village: Region,
        group: Region,
        number: str,
        seq: int,
        spec: dict,
        centre: tuple[float, float],
    ) -> tuple[Household, list[dict]]:
        rng = self.rng
        category = spec["category"]
        monitor_type = spec.get("monitor_type")
        is_dibao = category == HouseholdCategory.DIBAO or spec.get("is_dibao", False)
        is_tekun = category == HouseholdCategory.TEKUN
        is_disabled = category == HouseholdCategory.DISABLED or spec.get("is_disabled", False)
        lat = lon = None
        if rng.random() >= SHARE_NO_LOCATION:
            lat = round(centre[0] + max(-0.012, min(0.012, rng.gauss(0, 0.003))), 6)
            lon = round(centre[1] + max(-0.012, min(0.012, rng.gauss(0, 0.003))), 6)
        people = self._people(category=category)
        priority = category != HouseholdCategory.ORDINARY
        members = self._members(people, priority=priority, disabled=is_disabled, village=village)
        household = Household(
            number=number,
            region_id=group.id,
            village_id=village.id,
            region_path=group.path,
            head_name=members[0]["name"],
            address=f"重庆市{DISTRICT_NAME}{TOWN_NAME}{village.name}{group.name}{rng.randint(1, 199)}号",
            phone=f"19900{seq:06d}" if rng.random() < 0.95 else None,
            lat=lat,
            lon=lon,
            category=category.value,
            poverty_status=spec["poverty_status"].value if "poverty_status" in spec else None,
            monitor_type=monitor_type.value if monitor_type else None,
            is_dibao=is_dibao,
            is_tekun=is_tekun,
            is_disabled=is_disabled,
            is_monitored=monitor_type is not None,
        )
        self._count(household, len(members))
        return household, members

    def _count(self, household: Household, members: int) -> None:
        s = self.summary
        s.members += members
        s.by_category[household.category] = s.by_category.get(household.category, 0) + 1
        if household.category == HouseholdCategory.REGISTERED_POOR:
            s.poor += 1
            if household.poverty_status == PovertyStatus.LIFTED:
                s.poor_lifted += 1
            else:
                s.poor_not_lifted += 1
        s.monitored += household.is_monitored
        s.dibao += household.is_dibao
        s.tekun += household.is_tekun
        s.disabled += household.is_disabled
        s.ordinary += household.category == HouseholdCategory.ORDINARY

    def _people(self, *, category: HouseholdCategory) -> list[_Person]:
        """Who lives in the household: relation, sex, age and surname of each member."""
        rng = self.rng
        surname = rng.choice(SURNAMES)
        if category == HouseholdCategory.TEKUN:
            return [_Person("户主", rng.choice("MMMF"), rng.randint(62, 92), surname)]
        size = rng.choices(range(1, 7), weights=[12, 24, 22, 20, 14, 8])[0]
        band = rng.choices([(25, 40), (40, 55), (55, 70), (70, 88)], weights=[15, 35, 32, 18])[0]
        head_age = rng.randint(*band)
        head_sex = "M" if rng.random() < 0.85 else "F"
        people = [_Person("户主", head_sex, head_age, surname)]
        if size >= 2 and rng.random() < 0.85:
            spouse_age = max(20, head_age + rng.randint(-5, 5))
            people.append(_Person("配偶", _other(head_sex), spouse_age, rng.choice(SURNAMES)))
        if len(people) < size and head_age < 48 and rng.random() < 0.25:
            people.append(
                _Person("父母", rng.choice("MF"), head_age + rng.randint(24, 30), surname)
            )
        if head_age < 48:
            while len(people) < size:
                age = head_age - rng.randint(22, 34)
                age = age if age >= 0 else rng.randint(0, 5)
                people.append(_Person("子女", rng.choice("MF"), age, surname))
            return people
        child_age = None
        while len(people) < size:
            if child_age is None:
                child_age = max(18, head_age - rng.randint(24, 32))
                child_sex = rng.choice("MF")
                people.append(_Person("子女", child_sex, child_age, surname))
            elif len(people) < size and not any(p.relation in ("儿媳", "女婿") for p in people):
                relation = "儿媳" if child_sex == "M" else "女婿"
                age = max(18, child_age + rng.randint(-4, 4))
                people.append(_Person(relation, _other(child_sex), age, rng.choice(SURNAMES)))
            else:
                age = child_age - rng.randint(22, 30)
                age = age if age >= 0 else rng.randint(0, 14)
                people.append(_Person("孙子女", rng.choice("MF"), age, surname))
        return people

    def _members(
        self, people: list[_Person], *, priority: bool, disabled: bool, village: Region
    ) -> list[dict]:
        rng = self.rng
        contracted = rng.random() < (0.93 if priority else 0.70)
        doctor_name = doctor_phone = None
        if contracted:
            doctor_name, doctor_phone = rng.choice(self._village_doctors(village))
        disabled_index = rng.randrange(len(people)) if disabled else None
        members: list[dict] = []
        for i, person in enumerate(people):
            born = self._birth_date(person.age)
            age = _age_on(born, self.as_of)
            medical = rng.random() < 0.985
            if age >= 45:
                chronic_chance = 0.35 if priority else 0.18
            else:
                chronic_chance = 0.03 if age >= 18 else 0.0
            student = False
            schooling = self._schooling(age)
            if schooling and schooling.startswith("在读"):
                student = True
            members.append(
                dict(
                    name=self._name(person.surname),
                    relation=person.relation,
                    sex=person.sex,
                    birth_date=born,
                    id_number=self._id_number(born, person.sex),
                    schooling=schooling,
                    medical_insurance=medical,
                    serious_illness_insurance=medical and rng.random() < 0.97,
                    doctor_name=doctor_name if rng.random() >= 0.03 else None,
                    doctor_phone=doctor_phone,
                    disability=(
                        rng.choice(DISABILITIES)
                        if i == disabled_index or rng.random() < 0.01
                        else None
                    ),
                    chronic_illness=(
                        rng.choice(CHRONIC_ILLNESSES) if rng.random() < chronic_chance else None
                    ),
                    migrant_work=(
                        18 <= age <= 55
                        and not student
                        and rng.random() < (0.25 if i == 0 else 0.40)
                    ),
                )
            )
            if members[-1]["doctor_name"] is None:
                members[-1]["doctor_phone"] = None
        return members

    def _village_doctors(self, village: Region) -> list[tuple[str, str]]:
        # Each village clinic has two or three contracted family doctors (村医).
        if village.id not in self.doctors:
            base = int(village.code[-3:]) * 10
            self.doctors[village.id] = [
                (f"{self.rng.choice(SURNAMES)}医测{GIVEN_FIRST[k]}", f"19920{base + k:06d}")
                for k in range(self.rng.randint(2, 3))
            ]
        return self.doctors[village.id]

    def _birth_date(self, age: int) -> date:
        # A birthday within the year after the age-th birthday, never in the future.
        latest = self.as_of - timedelta(days=365 * age + age // 4)
        return latest - timedelta(days=self.rng.randint(1, 364))

    def _schooling(self, age: int) -> str | None:
        rng = self.rng
        if age < 3:
            return None
        if age < 6:
            return "学龄前"
        if age <= 11:
            return self._maybe_out_of_school("在读小学")
        if age <= 14:
            return self._maybe_out_of_school("在读初中")
        if age == 15:
            return self._maybe_out_of_school(rng.choice(["在读初中", "在读高中"]))
        if age <= 18:
            return rng.choices(["在读高中", "在读中职", "初中"], weights=[60, 20, 20])[0]
        if age <= 22 and rng.random() < 0.25:
            return "在读大学"
        born_year = self.as_of.year - age
        if born_year < 1960:
            options, weights = ["文盲或半文盲", "小学", "初中"], [30, 50, 20]
        elif born_year < 1980:
            options, weights = ["小学", "初中", "高中"], [30, 55, 15]
        else:
            options, weights = ["初中", "高中", "中专", "大专及以上"], [50, 25, 10, 15]
        return rng.choices(options, weights=weights)[0]

    def _maybe_out_of_school(self, in_school: str) -> str:
        # About one child in 80 of compulsory-school age is out of school (or taught at home
        # for health): the visit checks must find them. Counted, not drawn, so there always are.
        self.school_age_seen += 1
        if self.school_age_seen % SCHOOL_EXCEPTION_EVERY == SCHOOL_EXCEPTION_EVERY // 2:
            return self.rng.choice(SCHOOL_EXCEPTIONS)
        return in_school

    def _name(self, surname: str) -> str:
        given = "测" + self.rng.choice(GIVEN_FIRST)
        if self.rng.random() < 0.5:
            given += self.rng.choice(GIVEN_SECOND)
        return surname + given

    def _id_number(self, born: date, sex: str) -> str:
        parity = 1 if sex == "M" else 0
        while True:
            sequence = self.rng.randrange(0, 500) * 2 + parity
            value = make_id_number(area=ID_AREA_CODE, born=born, sequence=sequence)
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    # ----- users ------------------------------------------------------------------------

    def _user(self, *, username: str | None, display_name: str, with_password: bool = True) -> User:
        self.user_phone_seq += 1
        return User(
            username=username,
            display_name=display_name,
            phone=f"19910{self.user_phone_seq:06d}",
            password_hash=self.password_hash if with_password else None,
            is_active=True,
        )

    def _staff_users(self, *, district: Region, town: Region, villages: list[Region]) -> list[User]:
        """The district, town, inspector, office and village cadre accounts."""
        users: list[tuple[User, str, Region, str | None]] = [
            (
                self._user(username="district", display_name="区扶贫办测试员"),
                Role.DISTRICT,
                district,
                None,
            ),
            (
                self._user(username="town_admin", display_name="镇扶贫办测试员"),
                Role.TOWN_ADMIN,
                town,
                None,
            ),
            (
                self._user(username="inspector", display_name="镇纪委测试员"),
                Role.INSPECTOR,
                town,
                None,
            ),
        ]
        for code, name in STANDARD_OFFICES:
            user = self._user(username=f"office_{code}", display_name=f"{name}测试员")
            users.append((user, Role.OFFICE, town, code))
        for v, village in enumerate(villages, start=1):
            user = self._user(
                username=_cadre_username(v), display_name=self._name(self.rng.choice(SURNAMES))
            )
            users.append((user, Role.VILLAGE_CADRE, village, None))
        for user, role, region, office_code in users:
            user.grants = [RoleGrant(role=role.value, region_id=region.id, office_code=office_code)]
            # The town's lead and each village's cadre are its party secretaries (书记), who
            # must visit every registered poor household (二级书记遍访贫困户).
            user.is_party_secretary = role in (Role.TOWN_ADMIN, Role.VILLAGE_CADRE)
        db.session.add_all([u for u, *_ in users])
        return [u for u, *_ in users]

    def _helpers(self, *, village: Region, village_no: int, count: int) -> list[User]:
        """Helpers of one village, enough for 5–10 households each."""
        low = math.ceil(count / HELPER_MAX_LOAD)
        high = max(low, count // HELPER_MIN_LOAD)
        n = min(high, max(low, round(count / HELPER_TARGET_LOAD)))
        helpers = []
        for h in range(1, n + 1):
            # A few helpers have no password yet: they will bind WeChat with a binding code.
            wechat_only = h > 1 and self.rng.random() < SHARE_HELPER_WECHAT_ONLY
            user = self._user(
                username=None if wechat_only else _helper_username(village_no, h),
                display_name=self._name(self.rng.choice(SURNAMES)),
                with_password=not wechat_only,
            )
            user.grants = [RoleGrant(role=Role.HELPER.value, region_id=village.id)]
            helpers.append(user)
        db.session.add_all(helpers)
        self.summary.helpers += n
        return helpers


def _other(sex: str) -> str:
    return "F" if sex == "M" else "M"


def _chunk_by_village(households: list[Household], villages: list[Region]) -> list[list[Household]]:
    by_village: dict[int, list[Household]] = {v.id: [] for v in villages}
    for household in households:
        by_village[household.village_id].append(household)
    return [by_village[v.id] for v in villages]
