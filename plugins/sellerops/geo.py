"""Geography shared by the sandbox generator and the warehouse models.

United States (the 50 states, DC and the five inhabited territories) and Japan
(the 47 prefectures): names, approximate 2020 census populations, the main
IANA time zone, a few real cities with a plausible postal code, and the
postal-code rules that resolve the states split between two time zones.

Time zones
----------
:func:`time_zone_for` returns the IANA zone of a ship-to address. For a US
state it starts from the state's main zone (:attr:`State.time_zone`) and
refines it with :data:`ZIP_TIME_ZONES`: per state, ZIP prefixes (3 or 5
digits; the longest matching prefix wins) that lie in another zone, e.g. the
Florida panhandle west of the Apalachicola river (``324``, ``325``) is
``America/Chicago`` and El Paso (``798``, ``799``, ``885``) is
``America/Denver``. The rules follow county lines only as far as ZIP prefixes
do: a few border ZIPs land on the wrong side. Japan is ``Asia/Tokyo``
everywhere.

:func:`us_time_zone_group` maps an IANA zone to the group a US seller thinks
in: ``Eastern``, ``Central``, ``Mountain``, ``Pacific``, ``Alaska``,
``Hawaii``, ``Atlantic`` or ``Other``. Arizona (``America/Phoenix``, no DST)
and ``America/Boise`` are ``Mountain``; ``America/Adak`` (Hawaii-Aleutian
time) is ``Hawaii``; Puerto Rico and the US Virgin Islands
(``America/Puerto_Rico``, ``America/St_Thomas``, Atlantic Standard Time) are
``Atlantic``; Guam, the Northern Mariana Islands, American Samoa and every
non-US zone (``Asia/Tokyo`` included) are ``Other``.

Japanese addresses
------------------
Amazon.co.jp gives the prefecture in Japanese (``StateOrRegion`` = ``東京都``),
so :attr:`Prefecture.name_ja` is what the sandbox puts in the ``state``
columns; :func:`prefecture` finds a prefecture by ISO code (``JP-13``), number
(``13``), Japanese or English name. Postal codes are ``NNN-NNNN``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

US_TIME_ZONE_GROUPS = (
    "Eastern",
    "Central",
    "Mountain",
    "Pacific",
    "Alaska",
    "Hawaii",
    "Atlantic",
    "Other",
)

JP_TIME_ZONE = "Asia/Tokyo"

# Territories that Amazon sometimes reports as their own country code.
US_TERRITORY_COUNTRY_CODES = ("PR", "GU", "VI", "AS", "MP")


@dataclass(frozen=True)
class State:
    """A US state, DC or an inhabited territory."""

    code: str  # USPS code, e.g. "CA"
    name: str
    population: int  # 2020 census, approximate for the territories
    time_zone: str  # main IANA zone
    kind: str  # "state" | "district" | "territory"


@dataclass(frozen=True)
class City:
    """A real city with one plausible postal code of it."""

    name: str
    postal_code: str
    population: int  # approximate, used only as a sampling weight


@dataclass(frozen=True)
class Prefecture:
    """A Japanese prefecture."""

    code: str  # ISO 3166-2, e.g. "JP-13"
    name_en: str
    name_ja: str
    population: int  # 2020 census, approximate


def _states(*rows: tuple[str, str, int, str, str]) -> dict[str, State]:
    return {row[0]: State(*row) for row in rows}


US_STATES: dict[str, State] = _states(
    ("AL", "Alabama", 5_024_279, "America/Chicago", "state"),
    ("AK", "Alaska", 733_391, "America/Anchorage", "state"),
    ("AZ", "Arizona", 7_151_502, "America/Phoenix", "state"),
    ("AR", "Arkansas", 3_011_524, "America/Chicago", "state"),
    ("CA", "California", 39_538_223, "America/Los_Angeles", "state"),
    ("CO", "Colorado", 5_773_714, "America/Denver", "state"),
    ("CT", "Connecticut", 3_605_944, "America/New_York", "state"),
    ("DE", "Delaware", 989_948, "America/New_York", "state"),
    ("DC", "District of Columbia", 689_545, "America/New_York", "district"),
    ("FL", "Florida", 21_538_187, "America/New_York", "state"),
    ("GA", "Georgia", 10_711_908, "America/New_York", "state"),
    ("HI", "Hawaii", 1_455_271, "Pacific/Honolulu", "state"),
    ("ID", "Idaho", 1_839_106, "America/Boise", "state"),
    ("IL", "Illinois", 12_812_508, "America/Chicago", "state"),
    ("IN", "Indiana", 6_785_528, "America/Indiana/Indianapolis", "state"),
    ("IA", "Iowa", 3_190_369, "America/Chicago", "state"),
    ("KS", "Kansas", 2_937_880, "America/Chicago", "state"),
    ("KY", "Kentucky", 4_505_836, "America/New_York", "state"),
    ("LA", "Louisiana", 4_657_757, "America/Chicago", "state"),
    ("ME", "Maine", 1_362_359, "America/New_York", "state"),
    ("MD", "Maryland", 6_177_224, "America/New_York", "state"),
    ("MA", "Massachusetts", 7_029_917, "America/New_York", "state"),
    ("MI", "Michigan", 10_077_331, "America/Detroit", "state"),
    ("MN", "Minnesota", 5_706_494, "America/Chicago", "state"),
    ("MS", "Mississippi", 2_961_279, "America/Chicago", "state"),
    ("MO", "Missouri", 6_154_913, "America/Chicago", "state"),
    ("MT", "Montana", 1_084_225, "America/Denver", "state"),
    ("NE", "Nebraska", 1_961_504, "America/Chicago", "state"),
    ("NV", "Nevada", 3_104_614, "America/Los_Angeles", "state"),
    ("NH", "New Hampshire", 1_377_529, "America/New_York", "state"),
    ("NJ", "New Jersey", 9_288_994, "America/New_York", "state"),
    ("NM", "New Mexico", 2_117_522, "America/Denver", "state"),
    ("NY", "New York", 20_201_249, "America/New_York", "state"),
    ("NC", "North Carolina", 10_439_388, "America/New_York", "state"),
    ("ND", "North Dakota", 779_094, "America/Chicago", "state"),
    ("OH", "Ohio", 11_799_448, "America/New_York", "state"),
    ("OK", "Oklahoma", 3_959_353, "America/Chicago", "state"),
    ("OR", "Oregon", 4_237_256, "America/Los_Angeles", "state"),
    ("PA", "Pennsylvania", 13_002_700, "America/New_York", "state"),
    ("RI", "Rhode Island", 1_097_379, "America/New_York", "state"),
    ("SC", "South Carolina", 5_118_425, "America/New_York", "state"),
    ("SD", "South Dakota", 886_667, "America/Chicago", "state"),
    ("TN", "Tennessee", 6_910_840, "America/Chicago", "state"),
    ("TX", "Texas", 29_145_505, "America/Chicago", "state"),
    ("UT", "Utah", 3_271_616, "America/Denver", "state"),
    ("VT", "Vermont", 643_077, "America/New_York", "state"),
    ("VA", "Virginia", 8_631_393, "America/New_York", "state"),
    ("WA", "Washington", 7_705_281, "America/Los_Angeles", "state"),
    ("WV", "West Virginia", 1_793_716, "America/New_York", "state"),
    ("WI", "Wisconsin", 5_893_718, "America/Chicago", "state"),
    ("WY", "Wyoming", 576_851, "America/Denver", "state"),
    ("PR", "Puerto Rico", 3_285_874, "America/Puerto_Rico", "territory"),
    ("GU", "Guam", 153_836, "Pacific/Guam", "territory"),
    ("VI", "U.S. Virgin Islands", 87_146, "America/St_Thomas", "territory"),
    ("AS", "American Samoa", 49_710, "Pacific/Pago_Pago", "territory"),
    ("MP", "Northern Mariana Islands", 47_329, "Pacific/Saipan", "territory"),
)

# ZIP prefix -> zone, for the states whose ZIPs are not all in the main zone.
# Three-digit prefixes are sectional centres; five-digit ones single towns.
ZIP_TIME_ZONES: dict[str, dict[str, str]] = {
    # Panhandle west of the Apalachicola river; Port St. Joe (Gulf County,
    # east of the river's mouth) stays Eastern.
    "FL": {"324": "America/Chicago", "325": "America/Chicago", "32456": "America/New_York"},
    # East Tennessee: Chattanooga, Knoxville, the Tri-Cities.
    "TN": {
        "373": "America/New_York",
        "374": "America/New_York",
        "376": "America/New_York",
        "377": "America/New_York",
        "378": "America/New_York",
        "379": "America/New_York",
    },
    # Western Kentucky is Central; Louisville has its own tz database zone.
    "KY": {
        "400": "America/Kentucky/Louisville",
        "401": "America/Kentucky/Louisville",
        "402": "America/Kentucky/Louisville",
        "420": "America/Chicago",
        "421": "America/Chicago",
        "422": "America/Chicago",
        "423": "America/Chicago",
        "424": "America/Chicago",
        "42633": "America/Kentucky/Monticello",
    },
    # North-west (Gary/Hammond, Chicago metro) and south-west (Evansville)
    # corners are Central; Perry County has its own zone.
    "IN": {
        "463": "America/Chicago",
        "464": "America/Chicago",
        "476": "America/Chicago",
        "477": "America/Chicago",
        "47586": "America/Indiana/Tell_City",
    },
    # The Upper Peninsula counties bordering Wisconsin (Gogebic, Iron,
    # Dickinson, Menominee) are Central.
    "MI": {
        "49801": "America/Menominee",
        "49802": "America/Menominee",
        "49815": "America/Menominee",
        "49831": "America/Menominee",
        "49858": "America/Menominee",
        "49870": "America/Menominee",
        "49876": "America/Menominee",
        "49892": "America/Menominee",
        "49911": "America/Menominee",
        "49920": "America/Menominee",
        "49935": "America/Menominee",
        "49938": "America/Menominee",
        "49968": "America/Menominee",
    },
    # South-west North Dakota (Dickinson) is Mountain.
    "ND": {"586": "America/Denver"},
    # West River South Dakota (Rapid City) is Mountain.
    "SD": {"577": "America/Denver"},
    # The Nebraska panhandle (Scottsbluff, Alliance, Sidney) is Mountain.
    "NE": {"693": "America/Denver"},
    # Sherman, Wallace, Greeley and Hamilton counties are Mountain.
    "KS": {
        "67735": "America/Denver",
        "67741": "America/Denver",
        "67758": "America/Denver",
        "67761": "America/Denver",
        "67762": "America/Denver",
        "67836": "America/Denver",
        "67878": "America/Denver",
        "67879": "America/Denver",
    },
    # El Paso and Hudspeth counties are Mountain; Van Horn (Culberson) is not.
    "TX": {
        "798": "America/Denver",
        "799": "America/Denver",
        "885": "America/Denver",
        "79855": "America/Chicago",
    },
    # The Idaho panhandle (Coeur d'Alene, Moscow, Lewiston) is Pacific.
    "ID": {"835": "America/Los_Angeles", "838": "America/Los_Angeles"},
    # Malheur County (Ontario, Vale, Nyssa) is Mountain.
    "OR": {"979": "America/Boise"},
    # The Navajo Nation observes DST, the rest of Arizona does not.
    "AZ": {
        "865": "America/Denver",
        "86033": "America/Denver",
        "86044": "America/Denver",
        "86045": "America/Denver",
    },
    # West Wendover keeps Mountain time with Utah.
    "NV": {"89883": "America/Denver"},
    "AK": {
        "998": "America/Juneau",
        "99835": "America/Sitka",
        "99546": "America/Adak",
        "99547": "America/Adak",
        "99689": "America/Yakutat",
        "99762": "America/Nome",
        "99926": "America/Metlakatla",
    },
}


def _cities(*rows: tuple[str, str, int]) -> tuple[City, ...]:
    return tuple(City(*row) for row in rows)


# A few cities per state, with one plausible ZIP each. Cities on the far side of
# a time-zone line are included on purpose (Pensacola, Knoxville, El Paso...).
US_CITIES: dict[str, tuple[City, ...]] = {
    "AL": _cities(
        ("Birmingham", "35203", 200_733),
        ("Montgomery", "36104", 200_603),
        ("Huntsville", "35801", 215_006),
        ("Mobile", "36602", 187_041),
    ),
    "AK": _cities(
        ("Anchorage", "99501", 291_247),
        ("Fairbanks", "99701", 32_515),
        ("Juneau", "99801", 32_255),
        ("Nome", "99762", 3_699),
        ("Adak", "99546", 171),
    ),
    "AZ": _cities(
        ("Phoenix", "85004", 1_608_139),
        ("Tucson", "85701", 542_629),
        ("Mesa", "85201", 504_258),
        ("Flagstaff", "86001", 76_831),
        ("Window Rock", "86515", 2_500),
    ),
    "AR": _cities(
        ("Little Rock", "72201", 202_591),
        ("Fayetteville", "72701", 93_949),
        ("Fort Smith", "72901", 89_142),
    ),
    "CA": _cities(
        ("Los Angeles", "90012", 3_898_747),
        ("San Diego", "92101", 1_386_932),
        ("San Jose", "95113", 1_013_240),
        ("San Francisco", "94103", 873_965),
        ("Fresno", "93721", 542_107),
    ),
    "CO": _cities(
        ("Denver", "80202", 715_522),
        ("Colorado Springs", "80903", 478_961),
        ("Aurora", "80012", 386_261),
        ("Boulder", "80302", 108_250),
    ),
    "CT": _cities(
        ("Bridgeport", "06604", 148_654),
        ("New Haven", "06510", 134_023),
        ("Stamford", "06901", 135_470),
        ("Hartford", "06103", 121_054),
    ),
    "DE": _cities(
        ("Wilmington", "19801", 70_898),
        ("Dover", "19901", 39_403),
        ("Newark", "19711", 30_601),
    ),
    "DC": _cities(
        ("Washington", "20001", 300_000),
        ("Washington", "20009", 250_000),
        ("Washington", "20016", 139_545),
    ),
    "FL": _cities(
        ("Jacksonville", "32202", 949_611),
        ("Miami", "33130", 442_241),
        ("Tampa", "33602", 384_959),
        ("Orlando", "32801", 307_573),
        ("Tallahassee", "32301", 196_169),
        ("Pensacola", "32501", 54_312),
        ("Panama City", "32401", 32_939),
        ("Fort Walton Beach", "32548", 20_922),
    ),
    "GA": _cities(
        ("Atlanta", "30303", 498_715),
        ("Columbus", "31901", 206_922),
        ("Augusta", "30901", 202_081),
        ("Savannah", "31401", 147_780),
    ),
    "HI": _cities(
        ("Honolulu", "96813", 350_964),
        ("Hilo", "96720", 44_186),
        ("Kailua", "96734", 40_514),
    ),
    "ID": _cities(
        ("Boise", "83702", 235_684),
        ("Meridian", "83642", 117_635),
        ("Idaho Falls", "83402", 64_818),
        ("Coeur d'Alene", "83814", 54_628),
        ("Lewiston", "83501", 34_203),
    ),
    "IL": _cities(
        ("Chicago", "60601", 2_746_388),
        ("Aurora", "60505", 180_542),
        ("Naperville", "60540", 149_540),
        ("Rockford", "61101", 148_655),
        ("Springfield", "62701", 114_394),
    ),
    "IN": _cities(
        ("Indianapolis", "46204", 887_642),
        ("Fort Wayne", "46802", 263_886),
        ("Evansville", "47708", 117_298),
        ("South Bend", "46601", 103_453),
        ("Hammond", "46320", 77_879),
        ("Gary", "46402", 69_093),
    ),
    "IA": _cities(
        ("Des Moines", "50309", 214_133),
        ("Cedar Rapids", "52401", 137_710),
        ("Davenport", "52801", 101_724),
    ),
    "KS": _cities(
        ("Wichita", "67202", 397_532),
        ("Overland Park", "66210", 197_238),
        ("Kansas City", "66101", 156_607),
        ("Topeka", "66603", 126_587),
        ("Goodland", "67735", 4_465),
    ),
    "KY": _cities(
        ("Louisville", "40202", 633_045),
        ("Lexington", "40507", 322_570),
        ("Bowling Green", "42101", 72_294),
        ("Owensboro", "42301", 60_183),
        ("Paducah", "42001", 27_137),
    ),
    "LA": _cities(
        ("New Orleans", "70112", 383_997),
        ("Baton Rouge", "70801", 227_470),
        ("Shreveport", "71101", 187_593),
    ),
    "ME": _cities(
        ("Portland", "04101", 68_408),
        ("Lewiston", "04240", 37_121),
        ("Bangor", "04401", 31_753),
    ),
    "MD": _cities(
        ("Baltimore", "21202", 585_708),
        ("Columbia", "21044", 104_681),
        ("Germantown", "20874", 91_249),
        ("Frederick", "21701", 78_171),
    ),
    "MA": _cities(
        ("Boston", "02108", 675_647),
        ("Worcester", "01608", 206_518),
        ("Springfield", "01103", 155_929),
        ("Cambridge", "02139", 118_403),
    ),
    "MI": _cities(
        ("Detroit", "48226", 639_111),
        ("Grand Rapids", "49503", 198_917),
        ("Ann Arbor", "48104", 123_851),
        ("Marquette", "49855", 20_629),
        ("Menominee", "49858", 8_488),
        ("Iron Mountain", "49801", 7_518),
    ),
    "MN": _cities(
        ("Minneapolis", "55401", 429_954),
        ("Saint Paul", "55101", 311_527),
        ("Rochester", "55901", 121_395),
        ("Duluth", "55802", 86_697),
    ),
    "MS": _cities(
        ("Jackson", "39201", 153_701),
        ("Gulfport", "39501", 72_926),
        ("Southaven", "38671", 54_648),
    ),
    "MO": _cities(
        ("Kansas City", "64106", 508_090),
        ("St. Louis", "63101", 301_578),
        ("Springfield", "65806", 169_176),
        ("Columbia", "65201", 126_254),
    ),
    "MT": _cities(
        ("Billings", "59101", 117_116),
        ("Missoula", "59801", 73_489),
        ("Great Falls", "59401", 60_442),
        ("Bozeman", "59715", 53_293),
    ),
    "NE": _cities(
        ("Omaha", "68102", 486_051),
        ("Lincoln", "68508", 291_082),
        ("North Platte", "69101", 23_390),
        ("Scottsbluff", "69361", 14_436),
    ),
    "NV": _cities(
        ("Las Vegas", "89101", 641_903),
        ("Henderson", "89002", 317_610),
        ("Reno", "89501", 264_165),
        ("West Wendover", "89883", 4_512),
    ),
    "NH": _cities(
        ("Manchester", "03101", 115_644),
        ("Nashua", "03060", 91_322),
        ("Concord", "03301", 43_976),
    ),
    "NJ": _cities(
        ("Newark", "07102", 311_549),
        ("Jersey City", "07302", 292_449),
        ("Paterson", "07505", 159_732),
        ("Trenton", "08608", 90_871),
    ),
    "NM": _cities(
        ("Albuquerque", "87102", 564_559),
        ("Las Cruces", "88001", 111_385),
        ("Santa Fe", "87501", 87_505),
    ),
    "NY": _cities(
        ("New York", "10001", 8_804_190),
        ("Buffalo", "14202", 278_349),
        ("Rochester", "14604", 211_328),
        ("Syracuse", "13202", 148_620),
        ("Albany", "12207", 99_224),
    ),
    "NC": _cities(
        ("Charlotte", "28202", 874_579),
        ("Raleigh", "27601", 467_665),
        ("Greensboro", "27401", 299_035),
        ("Durham", "27701", 283_506),
    ),
    "ND": _cities(
        ("Fargo", "58102", 125_990),
        ("Bismarck", "58501", 73_622),
        ("Grand Forks", "58201", 59_166),
        ("Dickinson", "58601", 25_679),
    ),
    "OH": _cities(
        ("Columbus", "43215", 905_748),
        ("Cleveland", "44113", 372_624),
        ("Cincinnati", "45202", 309_317),
        ("Toledo", "43604", 270_871),
    ),
    "OK": _cities(
        ("Oklahoma City", "73102", 681_054),
        ("Tulsa", "74103", 413_066),
        ("Norman", "73069", 128_026),
    ),
    "OR": _cities(
        ("Portland", "97204", 652_503),
        ("Eugene", "97401", 176_654),
        ("Salem", "97301", 175_535),
        ("Bend", "97701", 99_178),
        ("Ontario", "97914", 11_645),
    ),
    "PA": _cities(
        ("Philadelphia", "19107", 1_603_797),
        ("Pittsburgh", "15222", 302_971),
        ("Allentown", "18101", 125_845),
        ("Erie", "16501", 94_831),
    ),
    "RI": _cities(
        ("Providence", "02903", 190_934),
        ("Warwick", "02886", 82_823),
        ("Cranston", "02910", 82_934),
    ),
    "SC": _cities(
        ("Charleston", "29401", 150_227),
        ("Columbia", "29201", 136_632),
        ("Greenville", "29601", 70_720),
    ),
    "SD": _cities(
        ("Sioux Falls", "57104", 192_517),
        ("Rapid City", "57701", 74_703),
        ("Pierre", "57501", 14_091),
    ),
    "TN": _cities(
        ("Nashville", "37203", 689_447),
        ("Memphis", "38103", 633_104),
        ("Knoxville", "37902", 190_740),
        ("Chattanooga", "37402", 181_099),
        ("Johnson City", "37601", 71_046),
    ),
    "TX": _cities(
        ("Houston", "77002", 2_304_580),
        ("San Antonio", "78205", 1_434_625),
        ("Dallas", "75201", 1_304_379),
        ("Austin", "78701", 961_855),
        ("El Paso", "79901", 678_815),
    ),
    "UT": _cities(
        ("Salt Lake City", "84101", 199_723),
        ("West Valley City", "84119", 140_230),
        ("Provo", "84601", 115_162),
    ),
    "VT": _cities(
        ("Burlington", "05401", 44_743),
        ("South Burlington", "05403", 20_292),
        ("Rutland", "05701", 15_807),
    ),
    "VA": _cities(
        ("Virginia Beach", "23451", 459_470),
        ("Norfolk", "23510", 238_005),
        ("Arlington", "22201", 238_643),
        ("Richmond", "23219", 226_610),
    ),
    "WA": _cities(
        ("Seattle", "98101", 737_015),
        ("Spokane", "99201", 228_989),
        ("Tacoma", "98402", 219_346),
        ("Vancouver", "98660", 190_915),
    ),
    "WV": _cities(
        ("Charleston", "25301", 48_864),
        ("Huntington", "25701", 46_842),
        ("Morgantown", "26501", 30_347),
    ),
    "WI": _cities(
        ("Milwaukee", "53202", 577_222),
        ("Madison", "53703", 269_840),
        ("Green Bay", "54301", 107_395),
    ),
    "WY": _cities(
        ("Cheyenne", "82001", 65_132),
        ("Casper", "82601", 59_038),
        ("Laramie", "82070", 31_407),
    ),
    "PR": _cities(
        ("San Juan", "00901", 342_259),
        ("Bayamón", "00956", 185_187),
        ("Carolina", "00983", 154_815),
        ("Ponce", "00730", 137_491),
    ),
    "GU": _cities(
        ("Dededo", "96929", 44_908),
        ("Tamuning", "96913", 18_489),
        ("Hagåtña", "96910", 943),
    ),
    "VI": _cities(
        ("Charlotte Amalie", "00802", 14_477),
        ("Christiansted", "00820", 2_626),
    ),
    "AS": _cities(
        ("Tafuna", "96799", 7_988),
        ("Pago Pago", "96799", 3_656),
    ),
    "MP": _cities(
        ("Saipan", "96950", 43_385),
        ("Tinian", "96952", 2_044),
    ),
}


def _prefectures(*rows: tuple[int, str, str, int]) -> dict[str, Prefecture]:
    return {f"JP-{n:02d}": Prefecture(f"JP-{n:02d}", en, ja, pop) for n, en, ja, pop in rows}


JP_PREFECTURES: dict[str, Prefecture] = _prefectures(
    (1, "Hokkaido", "北海道", 5_224_614),
    (2, "Aomori", "青森県", 1_237_984),
    (3, "Iwate", "岩手県", 1_210_534),
    (4, "Miyagi", "宮城県", 2_301_996),
    (5, "Akita", "秋田県", 959_502),
    (6, "Yamagata", "山形県", 1_068_027),
    (7, "Fukushima", "福島県", 1_833_152),
    (8, "Ibaraki", "茨城県", 2_867_009),
    (9, "Tochigi", "栃木県", 1_933_146),
    (10, "Gunma", "群馬県", 1_939_110),
    (11, "Saitama", "埼玉県", 7_344_765),
    (12, "Chiba", "千葉県", 6_284_480),
    (13, "Tokyo", "東京都", 14_047_594),
    (14, "Kanagawa", "神奈川県", 9_237_337),
    (15, "Niigata", "新潟県", 2_201_272),
    (16, "Toyama", "富山県", 1_034_814),
    (17, "Ishikawa", "石川県", 1_132_526),
    (18, "Fukui", "福井県", 766_863),
    (19, "Yamanashi", "山梨県", 809_974),
    (20, "Nagano", "長野県", 2_048_011),
    (21, "Gifu", "岐阜県", 1_978_742),
    (22, "Shizuoka", "静岡県", 3_633_202),
    (23, "Aichi", "愛知県", 7_542_415),
    (24, "Mie", "三重県", 1_770_254),
    (25, "Shiga", "滋賀県", 1_413_610),
    (26, "Kyoto", "京都府", 2_578_087),
    (27, "Osaka", "大阪府", 8_837_685),
    (28, "Hyogo", "兵庫県", 5_465_002),
    (29, "Nara", "奈良県", 1_324_473),
    (30, "Wakayama", "和歌山県", 922_584),
    (31, "Tottori", "鳥取県", 553_407),
    (32, "Shimane", "島根県", 671_126),
    (33, "Okayama", "岡山県", 1_888_432),
    (34, "Hiroshima", "広島県", 2_799_702),
    (35, "Yamaguchi", "山口県", 1_342_059),
    (36, "Tokushima", "徳島県", 719_559),
    (37, "Kagawa", "香川県", 950_244),
    (38, "Ehime", "愛媛県", 1_334_841),
    (39, "Kochi", "高知県", 691_527),
    (40, "Fukuoka", "福岡県", 5_135_214),
    (41, "Saga", "佐賀県", 811_442),
    (42, "Nagasaki", "長崎県", 1_312_317),
    (43, "Kumamoto", "熊本県", 1_738_301),
    (44, "Oita", "大分県", 1_123_852),
    (45, "Miyazaki", "宮崎県", 1_069_576),
    (46, "Kagoshima", "鹿児島県", 1_588_256),
    (47, "Okinawa", "沖縄県", 1_467_480),
)

# A few cities (wards for the big cities) per prefecture, names in Japanese.
JP_CITIES: dict[str, tuple[City, ...]] = {
    "JP-01": _cities(("札幌市中央区", "060-0001", 1_973_395), ("旭川市", "070-0031", 329_306)),
    "JP-02": _cities(("青森市", "030-0801", 275_192), ("八戸市", "031-0041", 223_415)),
    "JP-03": _cities(("盛岡市", "020-0021", 289_731), ("一関市", "021-0884", 111_932)),
    "JP-04": _cities(("仙台市青葉区", "980-0811", 1_096_704), ("石巻市", "986-0822", 140_151)),
    "JP-05": _cities(("秋田市", "010-0001", 307_672), ("横手市", "013-0021", 86_883)),
    "JP-06": _cities(("山形市", "990-0031", 247_590), ("鶴岡市", "997-0035", 122_347)),
    "JP-07": _cities(("郡山市", "963-8001", 327_692), ("福島市", "960-8041", 282_693)),
    "JP-08": _cities(("水戸市", "310-0011", 270_685), ("つくば市", "305-0031", 241_656)),
    "JP-09": _cities(("宇都宮市", "320-0811", 518_757), ("小山市", "323-0023", 166_666)),
    "JP-10": _cities(("高崎市", "370-0841", 372_973), ("前橋市", "371-0023", 332_149)),
    "JP-11": _cities(
        ("さいたま市浦和区", "330-0063", 1_324_025),
        ("川口市", "332-0012", 594_274),
        ("川越市", "350-0043", 354_571),
    ),
    "JP-12": _cities(
        ("千葉市中央区", "260-0013", 974_951),
        ("船橋市", "273-0005", 642_907),
        ("松戸市", "271-0092", 498_232),
    ),
    "JP-13": _cities(
        ("世田谷区", "154-0004", 943_664),
        ("新宿区", "160-0022", 349_385),
        ("渋谷区", "150-0002", 243_883),
        ("八王子市", "192-0081", 579_355),
        ("町田市", "194-0013", 431_079),
    ),
    "JP-14": _cities(
        ("横浜市西区", "220-0011", 3_777_491),
        ("川崎市川崎区", "210-0007", 1_538_262),
        ("相模原市中央区", "252-0231", 725_493),
    ),
    "JP-15": _cities(("新潟市中央区", "950-0087", 789_275), ("長岡市", "940-0062", 266_539)),
    "JP-16": _cities(("富山市", "930-0083", 413_938), ("高岡市", "933-0023", 166_393)),
    "JP-17": _cities(("金沢市", "920-0853", 463_254), ("白山市", "924-0871", 113_032)),
    "JP-18": _cities(("福井市", "910-0005", 262_328), ("坂井市", "919-0521", 88_481)),
    "JP-19": _cities(("甲府市", "400-0031", 189_591), ("甲斐市", "400-0115", 75_313)),
    "JP-20": _cities(("長野市", "380-0823", 372_760), ("松本市", "390-0811", 237_318)),
    "JP-21": _cities(("岐阜市", "500-8833", 402_557), ("大垣市", "503-0901", 158_286)),
    "JP-22": _cities(("浜松市中区", "430-0926", 790_718), ("静岡市葵区", "420-0851", 693_389)),
    "JP-23": _cities(
        ("名古屋市中村区", "450-0002", 2_332_176),
        ("豊田市", "471-0025", 422_330),
        ("岡崎市", "444-0043", 384_654),
    ),
    "JP-24": _cities(("四日市市", "510-0075", 305_424), ("津市", "514-0027", 274_537)),
    "JP-25": _cities(("大津市", "520-0043", 345_070), ("草津市", "525-0032", 137_247)),
    "JP-26": _cities(("京都市下京区", "600-8216", 1_463_723), ("宇治市", "611-0021", 179_630)),
    "JP-27": _cities(
        ("大阪市北区", "530-0001", 2_752_412),
        ("堺市堺区", "590-0077", 826_161),
        ("東大阪市", "577-0054", 493_940),
    ),
    "JP-28": _cities(
        ("神戸市中央区", "650-0021", 1_525_152),
        ("姫路市", "670-0012", 530_495),
        ("西宮市", "662-0918", 485_587),
    ),
    "JP-29": _cities(("奈良市", "630-8215", 354_630), ("橿原市", "634-0078", 120_922)),
    "JP-30": _cities(("和歌山市", "640-8331", 356_729), ("田辺市", "646-0031", 70_607)),
    "JP-31": _cities(("鳥取市", "680-0831", 188_465), ("米子市", "683-0064", 147_317)),
    "JP-32": _cities(("松江市", "690-0003", 203_616), ("出雲市", "693-0001", 172_775)),
    "JP-33": _cities(("岡山市北区", "700-0024", 724_691), ("倉敷市", "710-0055", 474_592)),
    "JP-34": _cities(("広島市中区", "730-0011", 1_200_754), ("福山市", "720-0065", 460_930)),
    "JP-35": _cities(("下関市", "750-0025", 255_051), ("山口市", "753-0041", 193_966)),
    "JP-36": _cities(("徳島市", "770-0831", 252_391), ("阿南市", "774-0030", 70_250)),
    "JP-37": _cities(("高松市", "760-0023", 417_496), ("丸亀市", "763-0034", 109_513)),
    "JP-38": _cities(("松山市", "790-0001", 511_192), ("今治市", "794-0028", 151_672)),
    "JP-39": _cities(("高知市", "780-0870", 326_545), ("南国市", "783-0004", 46_513)),
    "JP-40": _cities(
        ("福岡市博多区", "812-0011", 1_612_392),
        ("北九州市小倉北区", "802-0001", 939_029),
        ("久留米市", "830-0032", 303_316),
    ),
    "JP-41": _cities(("佐賀市", "840-0801", 230_996), ("唐津市", "847-0011", 117_373)),
    "JP-42": _cities(("長崎市", "850-0035", 409_118), ("佐世保市", "857-0863", 243_223)),
    "JP-43": _cities(("熊本市中央区", "860-0805", 738_865), ("八代市", "866-0861", 123_067)),
    "JP-44": _cities(("大分市", "870-0035", 475_614), ("別府市", "874-0920", 115_321)),
    "JP-45": _cities(("宮崎市", "880-0805", 401_339), ("都城市", "885-0071", 160_640)),
    "JP-46": _cities(("鹿児島市", "890-0053", 593_128), ("霧島市", "899-4332", 123_135)),
    "JP-47": _cities(("那覇市", "900-0015", 317_625), ("沖縄市", "904-0004", 142_752)),
}

# IANA zone -> US time-zone group. Zones not listed are "Other".
_ZONE_GROUPS: dict[str, str] = {
    **dict.fromkeys(
        (
            "America/New_York",
            "America/Detroit",
            "America/Kentucky/Louisville",
            "America/Kentucky/Monticello",
            "America/Louisville",
            "America/Indiana/Indianapolis",
            "America/Indianapolis",
            "America/Fort_Wayne",
            "America/Indiana/Marengo",
            "America/Indiana/Petersburg",
            "America/Indiana/Vevay",
            "America/Indiana/Vincennes",
            "America/Indiana/Winamac",
            "US/Eastern",
            "US/East-Indiana",
            "US/Michigan",
            "EST5EDT",
            "EST",
        ),
        "Eastern",
    ),
    **dict.fromkeys(
        (
            "America/Chicago",
            "America/Indiana/Knox",
            "America/Knox_IN",
            "America/Indiana/Tell_City",
            "America/Menominee",
            "America/North_Dakota/Beulah",
            "America/North_Dakota/Center",
            "America/North_Dakota/New_Salem",
            "US/Central",
            "US/Indiana-Starke",
            "CST6CDT",
        ),
        "Central",
    ),
    **dict.fromkeys(
        (
            "America/Denver",
            "America/Boise",
            "America/Phoenix",
            "America/Shiprock",
            "US/Mountain",
            "US/Arizona",
            "MST7MDT",
            "MST",
        ),
        "Mountain",
    ),
    **dict.fromkeys(("America/Los_Angeles", "US/Pacific", "PST8PDT"), "Pacific"),
    **dict.fromkeys(
        (
            "America/Anchorage",
            "America/Juneau",
            "America/Sitka",
            "America/Yakutat",
            "America/Nome",
            "America/Metlakatla",
            "US/Alaska",
        ),
        "Alaska",
    ),
    **dict.fromkeys(
        (
            "Pacific/Honolulu",
            "Pacific/Johnston",
            "America/Adak",
            "America/Atka",
            "US/Hawaii",
            "US/Aleutian",
            "HST",
        ),
        "Hawaii",
    ),
    **dict.fromkeys(("America/Puerto_Rico", "America/St_Thomas", "America/Virgin"), "Atlantic"),
}


def us_time_zone_group(zone: str | None) -> str:
    """Map an IANA zone to Eastern/Central/Mountain/Pacific/Alaska/Hawaii/Atlantic/Other.

    Arizona and Boise are Mountain, Adak is Hawaii (Hawaii-Aleutian time), Puerto
    Rico and the US Virgin Islands are Atlantic; Guam, the Northern Marianas,
    American Samoa, any non-US zone and ``None``/unknown names are Other.
    """
    if not zone:
        return "Other"
    return _ZONE_GROUPS.get(str(zone).strip(), "Other")


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@lru_cache(maxsize=1)
def _state_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for state in US_STATES.values():
        lookup[_key(state.code)] = state.code
        lookup[_key(state.name)] = state.code
    lookup[_key("US Virgin Islands")] = "VI"
    lookup[_key("Virgin Islands")] = "VI"
    lookup[_key("Washington DC")] = "DC"
    lookup[_key("Washington D.C.")] = "DC"
    return lookup


@lru_cache(maxsize=1)
def _prefecture_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for pref in JP_PREFECTURES.values():
        number = pref.code[3:]
        for text in (pref.code, number, str(int(number)), pref.name_ja, pref.name_en):
            lookup[_key(text)] = pref.code
        # "東京都" -> also "東京"; "Tokyo" -> also "Tokyo-to"/"Tokyo prefecture" are not needed.
        if pref.name_ja[-1] in "都道府県" and pref.name_ja != "北海道":
            lookup[_key(pref.name_ja[:-1])] = pref.code
    return lookup


def state(text: str | None) -> State | None:
    """The US state/territory for a code or name ('ca', 'California'), or None."""
    if not text:
        return None
    code = _state_lookup().get(_key(str(text)))
    return US_STATES[code] if code else None


def prefecture(text: str | None) -> Prefecture | None:
    """The Japanese prefecture for 'JP-13', '13', '東京都', '東京' or 'Tokyo', or None."""
    if not text:
        return None
    code = _prefecture_lookup().get(_key(str(text)))
    return JP_PREFECTURES[code] if code else None


def normalise_zip(postal_code: str | None) -> str | None:
    """The 5-digit US ZIP of '32501', '32501-1234', '2108' (lost leading zero); else None."""
    if postal_code is None:
        return None
    text = str(postal_code).strip().split("-")[0].strip()
    if not text.isdigit() or not (3 <= len(text) <= 9):
        return None
    if len(text) == 9:  # ZIP+4 without the dash
        text = text[:5]
    if len(text) < 5:  # a spreadsheet ate the leading zeros
        text = text.zfill(5)
    return text[:5]


_UNSET = object()


def time_zone_for(
    state_code: str | None,
    postal_code: str | None = None,
    country_code: str | None = "US",
    default: str | None | object = _UNSET,
) -> str:
    """The IANA time zone of a ship-to address.

    ``state_code`` is a USPS code or state name for the US (and the territory
    code when Amazon reports a territory as its own country, e.g. country
    ``PR``); anything for Japan. ``postal_code`` refines the split states (see
    :data:`ZIP_TIME_ZONES`); without it the state's main zone is returned.
    Unknown countries or US states raise ``ValueError`` unless ``default`` is
    given, which is then returned instead.
    """
    country = (country_code or "US").strip().upper()
    if country == "JP":
        return JP_TIME_ZONE
    if country in US_TERRITORY_COUNTRY_CODES and state(state_code) is None:
        state_code = country
        country = "US"
    if country != "US" and country not in US_TERRITORY_COUNTRY_CODES:
        if default is not _UNSET:
            return default  # type: ignore[return-value]
        raise ValueError(f"no time zone rules for country {country_code!r}")
    found = state(state_code)
    if found is None:
        if default is not _UNSET:
            return default  # type: ignore[return-value]
        raise ValueError(f"unknown US state {state_code!r}")
    zone = found.time_zone
    rules = ZIP_TIME_ZONES.get(found.code)
    zip5 = normalise_zip(postal_code) if rules else None
    if rules and zip5:
        for length in (5, 3):
            hit = rules.get(zip5[:length])
            if hit:
                return hit
    return zone


def us_cities() -> list[tuple[str, City]]:
    """All ``(state_code, city)`` pairs, states in :data:`US_STATES` order."""
    return [(code, city) for code in US_STATES for city in US_CITIES[code]]


def jp_cities() -> list[tuple[str, City]]:
    """All ``(prefecture_code, city)`` pairs, prefectures in ISO order."""
    return [(code, city) for code in JP_PREFECTURES for city in JP_CITIES[code]]
