"""Demo dump generator: a small, realistic stand-in for the Anna's Archive Spotify SQLite files.

``generate_dump(out_dir)`` writes the three SQLite files that ``recsys`` reads (same tables, columns and index
names as the real release, see :mod:`recsys.schema`), plus the hidden truth they were generated from
(``ground_truth.parquet``: each artist's community, genre family and core genres) and ``synth_manifest.json``.

The data has the shape that makes the real dump hard: hidden communities that only show through
collaborations, labels, compilations, markets, release eras, audio features and playlists; ~9 in 10 artists
without genres; ~80% of tracks at popularity 0; duplicated and odd names. Everything is drawn from
``numpy.random.default_rng(seed)`` only, so one ``(n_artists, seed, variant)`` always gives byte-identical
SQLite files.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..atomic import atomic_dir
from ..schema import SchemaVariant, SourceFile, ddl, index_ddl

__all__ = ["generate_dump", "GENERATOR", "GENERATOR_VERSION", "GROUND_TRUTH", "MANIFEST"]

GENERATOR = "recsys.sources.synthetic"
#: Bump when the output for a given (n_artists, seed, variant) changes.
GENERATOR_VERSION = 1
GROUND_TRUTH = "ground_truth.parquet"
MANIFEST = "synth_manifest.json"

# Fixed clock: fetched_at must not depend on when the generator runs (determinism).
BASE_EPOCH_MS = 1_752_000_000_000
_MIN_ARTISTS = 50
_REGIONAL_PER_FAMILY = 7
_BATCH = 200_000

# --------------------------------------------------------------------------------------------------------------
# Vocabulary (plain tuples and dicts only: iteration order must not depend on PYTHONHASHSEED)
# --------------------------------------------------------------------------------------------------------------

_ALL_MARKETS = ["AD", "AE", "AG", "AL", "AM", "AO", "AR", "AT", "AU", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BN", "BO", "BR", "BS", "BT", "BW", "BY", "BZ", "CA", "CD", "CG", "CH", "CI", "CL", "CM", "CO", "CR", "CV", "CW", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "ES", "ET", "FI", "FJ", "FM", "FR", "GA", "GB", "GD", "GE", "GH", "GM", "GN", "GQ", "GR", "GT", "GW", "GY", "HK", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IN", "IQ", "IS", "IT", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KR", "KW", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MG", "MH", "MK", "ML", "MN", "MO", "MR", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NE", "NG", "NI", "NL", "NO", "NP", "NR", "NZ", "OM", "PA", "PE", "PG", "PH", "PK", "PL", "PR", "PS", "PT", "PW", "PY", "QA", "RO", "RS", "RW", "SA", "SB", "SC", "SE", "SG", "SI", "SK", "SL", "SM", "SN", "SR", "ST", "SV", "SZ", "TD", "TG", "TH", "TJ", "TL", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VC", "VE", "VN", "VU", "WS", "XK", "ZA", "ZM", "ZW"]  # noqa: SIM905 (one line per 36 codes reads better than 184 literals)

# region key -> (adjectives used in genre names, home markets, ISRC country codes)
_REGIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "nordic": (("swedish", "norwegian", "finnish", "danish", "icelandic"),
               ("DK", "FI", "IS", "NO", "SE"), ("SE", "NO", "FI", "DK")),
    "dach": (("german", "austrian", "swiss"), ("AT", "CH", "DE", "LI", "LU"), ("DE", "AT", "CH")),
    "france": (("french", "belgian", "quebec"), ("BE", "CA", "CH", "FR", "LU", "MC"), ("FR", "BE")),
    "uk": (("uk", "british", "irish", "scottish", "welsh"), ("GB", "IE"), ("GB", "IE")),
    "iberia": (("spanish", "portuguese", "catalan"), ("AD", "ES", "PT"), ("ES", "PT")),
    "italy": (("italian",), ("IT", "MT", "SM"), ("IT",)),
    "benelux": (("dutch",), ("BE", "LU", "NL"), ("NL", "BE")),
    "east_europe": (("polish", "czech", "russian", "ukrainian", "hungarian", "romanian", "serbian", "croatian"),
                    ("BG", "CZ", "HR", "HU", "PL", "RO", "RS", "SI", "SK", "UA"), ("PL", "CZ", "RU", "UA", "HU")),
    "mediterranean": (("greek", "cypriot"), ("CY", "GR"), ("GR", "CY")),
    "latam": (("brazilian", "argentine", "mexican", "colombian", "chilean", "peruvian", "cuban"),
              ("AR", "BO", "BR", "CL", "CO", "CR", "DO", "EC", "GT", "HN", "MX", "NI", "PA", "PE", "PR", "PY",
               "SV", "UY", "VE"), ("BR", "AR", "MX", "CO", "CL", "PE")),
    "east_asia": (("japanese", "korean", "chinese", "taiwanese"), ("HK", "JP", "KR", "MO", "SG", "TW"),
                  ("JP", "KR", "TW", "HK")),
    "se_asia": (("indonesian", "filipino", "thai", "vietnamese", "malaysian"), ("ID", "MY", "PH", "SG", "TH", "VN"),
                ("ID", "PH", "TH", "VN", "MY")),
    "south_asia": (("indian", "pakistani", "bangladeshi"), ("BD", "IN", "LK", "NP", "PK"), ("IN", "PK", "BD")),
    "africa": (("nigerian", "south african", "ghanaian", "kenyan"), ("CI", "CM", "GH", "KE", "NG", "SN", "TZ", "UG",
                                                                    "ZA"), ("NG", "ZA", "GH", "KE")),
    "mena": (("turkish", "israeli", "lebanese", "egyptian", "moroccan", "arab"),
             ("AE", "DZ", "EG", "IL", "JO", "KW", "LB", "MA", "QA", "SA", "TN", "TR"), ("TR", "IL", "EG", "AE")),
    "oceania": (("australian", "new zealand"), ("AU", "NZ"), ("AU", "NZ")),
    "north_america": (("canadian", "american"), ("CA", "US"), ("US", "CA")),
}
_REGION_KEYS = tuple(_REGIONS)
_WEST = ("nordic", "dach", "france", "uk", "iberia", "italy", "benelux", "east_europe", "north_america", "oceania")
_ALLR = _REGION_KEYS
_R = {k: i for i, k in enumerate(_REGION_KEYS)}


@dataclass(frozen=True)
class _Family:
    name: str
    weight: float  # share of communities
    genres: tuple[str, ...]  # genres without a region prefix
    templates: tuple[tuple[str, tuple[str, ...]], ...]  # ("{} metal", region keys)
    regions: tuple[tuple[str | None, float], ...]  # home-region preference of its communities
    # danceability, energy, speechiness, acousticness, instrumentalness, liveness, valence
    features: tuple[float, float, float, float, float, float, float]
    tempo: float
    major: float  # P(mode = 1)
    explicit: float
    duration_s: float
    featuring: float  # P(track has featured artists)
    name_style: str


_DEFAULT_REGIONS: tuple[tuple[str | None, float], ...] = (
    (None, 0.42), ("nordic", 0.07), ("dach", 0.07), ("france", 0.05), ("uk", 0.08), ("iberia", 0.03),
    ("italy", 0.03), ("benelux", 0.03), ("east_europe", 0.05), ("mediterranean", 0.01), ("latam", 0.04),
    ("east_asia", 0.04), ("se_asia", 0.01), ("south_asia", 0.01), ("africa", 0.01), ("mena", 0.01),
    ("oceania", 0.02), ("north_america", 0.02),
)

_FAMILIES: tuple[_Family, ...] = (
    _Family("rock", 8, (
        "rock", "classic rock", "album rock", "hard rock", "alternative rock", "indie rock", "modern rock",
        "garage rock", "psychedelic rock", "progressive rock", "art rock", "soft rock", "southern rock",
        "heartland rock", "blues rock", "roots rock", "stoner rock", "post-rock", "shoegaze", "britpop", "grunge",
        "post-grunge", "krautrock", "space rock", "math rock", "noise rock", "surf rock", "glam rock",
        "yacht rock", "dance rock", "new wave", "madchester", "neo-psychedelic", "slowcore", "jangle pop",
        "permanent wave", "modern alternative rock", "indie garage rock"),
        (("{} rock", _WEST + ("east_asia", "mediterranean", "mena")), ("{} indie", _WEST + ("east_asia",)),
         ("{} indie rock", ("nordic", "dach", "uk", "benelux", "north_america", "oceania")),
         ("{} alternative rock", ("dach", "uk", "france", "east_europe"))),
        _DEFAULT_REGIONS, (.50, .75, .05, .15, .10, .20, .50), 125, .70, .06, 230, .14, "band"),
    _Family("metal", 5, (
        "metal", "heavy metal", "death metal", "black metal", "thrash metal", "doom metal", "power metal",
        "progressive metal", "melodic death metal", "metalcore", "deathcore", "nu metal", "groove metal",
        "symphonic metal", "folk metal", "viking metal", "sludge metal", "stoner metal", "speed metal",
        "gothic metal", "industrial metal", "djent", "technical death metal", "brutal death metal",
        "atmospheric black metal", "post-metal", "funeral doom", "grindcore", "crossover thrash", "glam metal",
        "alternative metal", "neo classical metal", "blackgaze", "mathcore", "old school death metal",
        "melodic metalcore"),
        (("{} metal", _WEST + ("latam", "east_asia", "mediterranean", "mena")),
         ("{} death metal", ("nordic", "dach", "uk", "east_europe", "latam", "north_america")),
         ("{} black metal", ("nordic", "dach", "france", "east_europe", "mediterranean")),
         ("{} power metal", ("nordic", "dach", "italy", "latam")),
         ("{} thrash metal", ("dach", "latam", "north_america"))),
        ((None, 0.3), ("nordic", 0.2), ("dach", 0.12), ("uk", 0.08), ("east_europe", 0.08), ("latam", 0.07),
         ("france", 0.04), ("italy", 0.03), ("east_asia", 0.04), ("north_america", 0.04)),
        (.40, .92, .08, .02, .30, .22, .30), 130, .45, .12, 290, .10, "band"),
    _Family("electronic", 9, (
        "edm", "house", "deep house", "tech house", "progressive house", "electro house", "minimal techno",
        "techno", "acid techno", "hard techno", "trance", "progressive trance", "uplifting trance", "psytrance",
        "drum and bass", "liquid funk", "jungle", "dubstep", "brostep", "future bass", "electro", "synthwave",
        "vaporwave", "chillwave", "downtempo", "trip hop", "lo-fi beats", "chillhop", "breakbeat", "big beat",
        "uk garage", "bass house", "hardstyle", "gabber", "happy hardcore", "eurodance", "italo disco", "nu disco",
        "electroclash", "ebm", "microhouse", "tropical house", "melodic techno", "afro house", "dub techno",
        "electronica"),
        (("{} house", ("nordic", "dach", "france", "uk", "italy", "benelux", "africa", "latam")),
         ("{} techno", ("dach", "nordic", "benelux", "east_europe", "uk", "italy")),
         ("{} edm", ("nordic", "benelux", "france", "east_asia", "north_america", "oceania")),
         ("{} electronica", ("dach", "nordic", "france", "east_asia", "uk"))),
        _DEFAULT_REGIONS, (.68, .78, .06, .06, .65, .15, .40), 126, .50, .05, 290, .40, "dj"),
    _Family("hip hop", 9, (
        "hip hop", "rap", "trap", "drill", "boom bap", "conscious hip hop", "east coast hip hop", "west coast rap",
        "southern hip hop", "dirty south rap", "gangster rap", "melodic rap", "emo rap", "cloud rap",
        "underground hip hop", "alternative hip hop", "jazz rap", "pop rap", "hardcore hip hop",
        "old school hip hop", "crunk", "g funk", "phonk", "drift phonk", "memphis rap", "atl hip hop",
        "chicago drill", "brooklyn drill", "grime", "horrorcore", "abstract hip hop", "rage rap", "plugg"),
        (("{} hip hop", _ALLR), ("{} trap", ("nordic", "dach", "france", "italy", "iberia", "latam", "east_europe")),
         ("{} drill", ("uk", "france", "dach", "benelux", "nordic", "oceania")),
         ("{} underground rap", ("dach", "east_europe", "north_america"))),
        _DEFAULT_REGIONS, (.76, .65, .28, .15, .02, .20, .50), 118, .55, .55, 185, .52, "rapper"),
    _Family("jazz", 4, (
        "jazz", "bebop", "hard bop", "cool jazz", "free jazz", "jazz fusion", "smooth jazz", "vocal jazz",
        "big band", "swing", "dixieland", "jazz piano", "jazz guitar", "jazz trumpet", "jazz saxophone",
        "contemporary jazz", "modal jazz", "avant-garde jazz", "latin jazz", "acid jazz", "nu jazz", "jazz funk",
        "soul jazz", "stride", "gypsy jazz", "jazz quartet", "spiritual jazz", "jazz trio", "post-bop",
        "contemporary post-bop", "straight-ahead jazz", "cabaret"),
        (("{} jazz", _WEST + ("latam", "east_asia", "africa", "mediterranean")),),
        _DEFAULT_REGIONS, (.55, .40, .05, .70, .50, .15, .50), 115, .55, .01, 330, .30, "person"),
    _Family("classical", 5, (
        "classical", "classical piano", "chamber music", "opera", "orchestra", "choral", "baroque", "early music",
        "requiem", "classical performance", "string quartet", "contemporary classical", "late romantic era",
        "classical era", "early romantic era", "impressionism", "post-romantic era", "neoclassicism",
        "modern classical", "orchestral performance", "historically informed performance", "violin", "cello",
        "classical guitar", "harpsichord", "organ", "lieder", "art song", "operetta", "classical soprano",
        "classical tenor", "renaissance", "oratorio", "serialism"),
        (("{} classical", _WEST + ("east_asia", "latam")),
         ("{} romanticism", ("dach", "east_europe", "nordic", "france")),
         ("{} choir", ("nordic", "uk", "dach", "east_europe", "benelux")),
         ("{} orchestra", ("uk", "dach", "nordic", "east_europe", "north_america")),
         ("{} opera", ("italy", "dach", "france", "east_europe"))),
        _DEFAULT_REGIONS, (.28, .15, .04, .95, .85, .15, .25), 105, .60, .0, 320, .30, "classical"),
    _Family("folk", 5, (
        "folk", "indie folk", "contemporary folk", "folk rock", "singer-songwriter", "stomp and holler",
        "freak folk", "anti-folk", "chamber folk", "american folk revival", "british folk", "traditional folk",
        "neofolk", "psychedelic folk", "folk-pop", "acoustic pop", "new americana", "appalachian folk",
        "sea shanties", "celtic", "celtic rock", "ectofolk"),
        (("{} folk", _WEST + ("mediterranean", "east_asia", "mena")),
         ("{} singer-songwriter", ("nordic", "dach", "france", "italy", "iberia", "uk", "benelux")),
         ("{} folk pop", ("nordic", "dach", "uk", "north_america"))),
        _DEFAULT_REGIONS, (.52, .38, .04, .75, .10, .14, .45), 115, .70, .03, 215, .18, "person"),
    _Family("latin", 7, (
        "latin pop", "reggaeton", "trap latino", "urbano latino", "cumbia", "salsa", "bachata", "merengue",
        "bossa nova", "samba", "mpb", "sertanejo", "sertanejo universitario", "funk carioca", "forro", "pagode",
        "axe", "tango", "bolero", "ranchera", "mariachi", "norteno", "banda", "corrido", "corridos tumbados",
        "latin alternative", "rock en espanol", "latin hip hop", "cumbia villera", "vallenato", "son cubano",
        "salsa puertorriquena", "champeta", "reggaeton flow", "latin arena pop", "musica mexicana"),
        (("{} pop", ("latam", "iberia")), ("{} rock", ("latam",)), ("{} indie", ("latam",)),
         ("{} reggae", ("latam",))),
        (("latam", 0.8), ("iberia", 0.2)), (.74, .72, .09, .25, .02, .18, .70), 110, .60, .25, 200, .50, "person"),
    _Family("pop", 9, (
        "pop", "dance pop", "electropop", "indie pop", "synthpop", "art pop", "bedroom pop", "hyperpop",
        "teen pop", "europop", "power pop", "chamber pop", "dream pop", "viral pop", "alt z", "post-teen pop",
        "candy pop", "bubblegum pop", "baroque pop", "indie poptimism", "pop dance", "acoustic cover",
        "boy band", "girl group", "schlager", "chanson"),
        (("{} pop", _WEST + ("mediterranean", "se_asia", "south_asia", "africa", "mena")),
         ("{} indie pop", ("nordic", "dach", "uk", "benelux", "north_america")),
         ("{} electropop", ("nordic", "dach", "france", "benelux")),
         ("{} schlager", ("dach", "nordic", "benelux"))),
        _DEFAULT_REGIONS, (.65, .65, .06, .20, .02, .15, .55), 120, .62, .12, 195, .33, "person"),
    _Family("r&b", 5, (
        "r&b", "contemporary r&b", "neo soul", "soul", "classic soul", "funk", "quiet storm", "new jack swing",
        "motown", "northern soul", "alternative r&b", "urban contemporary", "chill r&b", "indie soul", "disco",
        "post-disco", "boogie", "p funk", "southern soul", "philly soul", "afro r&b", "trap soul"),
        (("{} r&b", ("uk", "nordic", "dach", "france", "east_asia", "africa", "north_america")),
         ("{} soul", ("uk", "dach", "nordic", "east_asia", "benelux")),
         ("{} funk", ("dach", "france", "latam", "east_asia"))),
        ((None, 0.6), ("uk", 0.1), ("north_america", 0.1), ("africa", 0.07), ("france", 0.05), ("east_asia", 0.04),
         ("nordic", 0.04)), (.66, .55, .10, .28, .02, .15, .55), 105, .52, .25, 205, .40, "person"),
    _Family("country", 4, (
        "country", "contemporary country", "classic country", "outlaw country", "country rock", "alt-country",
        "americana", "bluegrass", "progressive bluegrass", "honky tonk", "country pop", "red dirt",
        "texas country", "nashville sound", "bakersfield sound", "western swing", "cowboy western",
        "country road", "modern country rock", "traditional country", "truck-driving country", "newgrass"),
        (("{} country", ("oceania", "north_america", "nordic", "uk", "benelux", "dach")),
         ("{} americana", ("uk", "nordic", "benelux"))),
        ((None, 0.65), ("north_america", 0.15), ("oceania", 0.1), ("nordic", 0.05), ("uk", 0.05)),
        (.58, .62, .04, .30, .01, .18, .60), 122, .85, .04, 200, .20, "person"),
    _Family("reggae", 3, (
        "reggae", "roots reggae", "dancehall", "dub", "ska", "rocksteady", "lovers rock", "reggae fusion",
        "ragga", "modern reggae", "reggae rock", "early reggae", "ska revival", "dub poetry"),
        (("{} reggae", ("dach", "france", "italy", "east_europe", "latam", "east_asia", "africa", "oceania")),
         ("{} dancehall", ("uk", "dach", "france", "africa")), ("{} ska", ("dach", "east_asia", "latam"))),
        ((None, 0.5), ("uk", 0.1), ("latam", 0.1), ("africa", 0.1), ("dach", 0.05), ("france", 0.05),
         ("east_europe", 0.05), ("oceania", 0.05)), (.78, .60, .12, .15, .05, .15, .75), 95, .60, .10, 225, .38,
        "person"),
    _Family("experimental", 4, (
        "ambient", "dark ambient", "drone", "noise", "experimental", "musique concrete", "sound art",
        "field recordings", "lowercase", "glitch", "idm", "new age", "space ambient", "ambient idm", "harsh noise",
        "power electronics", "minimalism", "post-minimalism", "free improvisation", "electroacoustic improvisation",
        "experimental ambient", "deep ambient", "meditation", "sleep", "healing", "binaural", "background music",
        "spa", "drone ambient", "tape loop"),
        (("{} experimental", ("nordic", "dach", "east_asia", "uk", "east_europe")),
         ("{} ambient", ("nordic", "east_asia", "dach", "east_europe")), ("{} noise", ("east_asia", "north_america"))),
        _DEFAULT_REGIONS, (.30, .25, .05, .75, .85, .12, .15), 95, .50, .02, 380, .15, "band"),
    _Family("world", 4, (
        "world", "afrobeat", "afrobeats", "afropop", "highlife", "soukous", "mbalax", "gnawa", "rai", "fado",
        "flamenco", "klezmer", "balkan brass", "bhangra", "qawwali", "ghazal", "carnatic", "hindustani classical",
        "sufi", "gamelan", "throat singing", "mande pop", "desert blues", "ethio-jazz", "amapiano", "kwaito",
        "gqom", "bongo flava", "arabesk", "persian traditional", "filmi", "hawaiian", "polka", "zouk", "kompa",
        "coupe-decale", "chaabi", "rebetiko", "laiko", "turbo-folk"),
        (("{} traditional", ("africa", "mena", "south_asia", "mediterranean", "east_europe", "se_asia")),
         ("{} folk", ("africa", "south_asia", "se_asia", "latam"))),
        (("africa", 0.3), ("mena", 0.2), ("south_asia", 0.15), ("east_europe", 0.1), ("mediterranean", 0.08),
         ("se_asia", 0.07), ("iberia", 0.05), ("latam", 0.05)), (.60, .58, .06, .45, .25, .20, .62), 110, .55, .03,
        260, .30, "person"),
    _Family("blues", 2, (
        "blues", "delta blues", "chicago blues", "electric blues", "modern blues", "texas blues",
        "piedmont blues", "country blues", "jump blues", "soul blues", "acoustic blues", "harmonica blues",
        "memphis blues", "swamp blues", "louisiana blues", "british blues", "traditional blues",
        "modern blues rock", "punk blues"),
        (("{} blues", ("nordic", "dach", "benelux", "east_europe", "italy", "oceania", "north_america")),),
        _DEFAULT_REGIONS, (.52, .55, .05, .45, .08, .30, .55), 112, .70, .03, 250, .20, "person"),
    _Family("punk", 3, (
        "punk", "punk rock", "hardcore punk", "pop punk", "post-punk", "skate punk", "street punk", "oi",
        "crust punk", "anarcho-punk", "emo", "screamo", "melodic hardcore", "post-hardcore", "riot grrrl",
        "garage punk", "proto-punk", "horror punk", "ska punk", "folk punk", "celtic punk", "egg punk",
        "midwest emo", "powerviolence"),
        (("{} punk", _WEST + ("latam", "east_asia")),
         ("{} hardcore", ("nordic", "dach", "benelux", "north_america", "east_europe")),
         ("{} post-punk", ("east_europe", "uk", "dach", "nordic")), ("{} emo", ("latam", "east_asia", "iberia"))),
        _DEFAULT_REGIONS, (.42, .90, .07, .03, .03, .28, .50), 150, .68, .20, 150, .10, "band"),
    _Family("asian pop", 4, (
        "k-pop", "j-pop", "c-pop", "mandopop", "cantopop", "j-rock", "j-idol", "anime", "vocaloid", "city pop",
        "k-indie", "k-rap", "korean r&b", "k-pop girl group", "k-pop boy group", "j-rap", "shibuya-kei",
        "visual kei", "anime rock", "t-pop", "v-pop", "p-pop", "opm", "enka", "kayokyoku", "korean ost",
        "j-pixie", "japanese singer-songwriter", "taiwan indie", "chinese indie", "k-ballad", "j-poprock"),
        (("{} idol", ("east_asia",)), ("{} indie", ("se_asia",)), ("{} hip hop", ("se_asia",))),
        (("east_asia", 0.75), ("se_asia", 0.25)), (.63, .70, .06, .20, .01, .15, .55), 122, .58, .05, 215, .25,
        "person"),
    _Family("soundtrack", 3, (
        "soundtrack", "orchestral soundtrack", "video game music", "anime score", "movie tunes", "show tunes",
        "broadway", "musicals", "hollywood", "trailer music", "scorecore", "chiptune", "8-bit", "library music",
        "tv soundtrack", "epicore", "japanese vgm", "british soundtrack", "german soundtrack", "bollywood"),
        (("{} soundtrack", ("france", "italy", "east_asia", "east_europe", "nordic")),),
        _DEFAULT_REGIONS, (.32, .32, .04, .70, .80, .12, .20), 108, .55, .0, 150, .25, "classical"),
    _Family("children", 2, (
        "children's music", "lullaby", "nursery", "kids dance party", "children's folk", "kindermusik",
        "cartoon", "musica infantil", "canzoni per bambini", "comptines", "barnmusik", "kinderliedjes",
        "children's story", "preschool children's music"),
        (("{} children's music", ("nordic", "dach", "france", "benelux", "uk", "east_europe", "latam", "iberia")),),
        _DEFAULT_REGIONS, (.70, .55, .10, .55, .05, .20, .80), 118, .85, .0, 130, .20, "band"),
    _Family("religious", 4, (
        "worship", "ccm", "christian music", "christian rock", "christian hip hop", "gospel", "southern gospel",
        "black gospel", "hymns", "christian pop", "christian alternative rock", "anthem worship",
        "gregorian chant", "nasheed", "kirtan", "bhajan", "devotional", "christian indie", "deep christian rock",
        "gospel r&b", "chant", "mantra"),
        (("{} worship", ("latam", "east_asia", "nordic", "dach", "benelux", "africa", "oceania")),
         ("{} gospel", ("africa", "uk", "north_america")), ("{} christian music", ("latam", "iberia", "east_europe"))),
        _DEFAULT_REGIONS, (.50, .50, .04, .40, .05, .25, .40), 115, .75, .0, 280, .25, "band"),
)
_FAMILY_NAMES = tuple(f.name for f in _FAMILIES)

# --- names ---------------------------------------------------------------------------------------------------

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "b", "d", "k", "l", "m", "n", "r",
           "s", "t", "v", "br", "dr", "kr", "st", "tr", "gr", "sh", "th", "j", "h", "", "")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "o", "y", "ai", "ei", "ou", "ia")
_MID_CODAS = ("", "", "", "", "", "", "l", "n", "r", "s", "m")
_END_CODAS = ("", "", "", "n", "r", "s", "l", "th", "x", "ne", "ra", "na", "ro", "la", "nd", "rn", "ss", "ri",
              "lo", "k")
_FIRST_NAMES = (
    "Anna", "Erik", "Maria", "Jonas", "Lucia", "Kenji", "Ade", "Omar", "Sofia", "Lars", "Mina", "Tomas", "Yuki",
    "Ines", "Mateo", "Noor", "Freya", "Ivan", "Leila", "Marco", "Aiko", "Kwame", "Elena", "Jin", "Priya", "Hugo",
    "Zara", "Niko", "Ama", "Felix", "Rosa", "Theo", "Ayla", "Diego", "Hana", "Emil", "Lina", "Sami", "Clara",
    "Ravi", "Olga", "Paulo", "Mei", "Aksel", "Nadia", "Oskar", "Sade", "Bruno", "Ilse", "Tariq",
)
_SONG_WORDS = (
    "Love", "Night", "Heart", "Fire", "Rain", "Summer", "Dance", "Home", "Dream", "Light", "Shadow", "River", "Gold",
    "Blue", "Midnight", "Forever", "Alone", "Sky", "Ocean", "Storm", "Echo", "Ghost", "Wild", "Young", "Heaven",
    "Paradise", "City", "Road", "Sun", "Moon", "Stars", "Winter", "Silence", "Tears", "Money", "Fever", "Magic",
    "Gravity", "Memories", "Tonight", "Yesterday", "Tomorrow", "Highway", "Sunrise", "Sunset", "Thunder", "Glass",
    "Paper", "Velvet", "Neon", "Electric", "Golden", "Broken", "Lonely", "Sweet", "Cold", "Burning", "Falling",
    "Running", "Waiting", "Lost", "Free", "Red", "Black", "White", "Silver", "Diamond", "Angel", "Devil", "Crown",
    "Kingdom", "Empire", "Island", "Desert", "Mountain", "Valley", "Garden", "Window", "Mirror", "Smoke", "Whisper",
    "Heartbeat", "Lullaby", "Anthem", "Prayer", "Letter", "Promise", "Secret", "Stranger", "Wolves", "Butterfly",
    "Satellite", "Horizon", "Voltage", "Rebel", "Runaway", "Hurricane", "Bloom", "Static", "Orbit", "Pulse",
)
_VERSION_SUFFIXES = (
    " - Remastered", " - Remastered 2011", " - Live", " - Radio Edit", " - Acoustic", " - Remix",
    " - Instrumental", " - Demo", " - Extended Mix", " - Sped Up", " - Single Version", " - Mono",
)
_CLASSICAL_FORMS = ("Symphony", "Sonata", "Concerto", "String Quartet", "Prelude", "Etude", "Nocturne", "Suite",
                    "Mass", "Fantasia", "Partita", "Serenade")
_KEYS = ("C Major", "C Minor", "D Major", "D Minor", "E-Flat Major", "E Minor", "F Major", "F Minor", "G Major",
         "G Minor", "A Major", "A Minor", "B-Flat Major", "B Minor")
_MOVEMENTS = ("I. Allegro", "II. Adagio", "III. Menuetto", "IV. Presto", "I. Andante", "II. Largo",
              "III. Scherzo", "IV. Finale. Allegro con brio", "I. Moderato", "II. Andante cantabile")
_LABEL_ADJ = ("Nordic", "Black", "Velvet", "Golden", "Silver", "Iron", "Crystal", "Midnight", "Electric", "Wild",
              "Lunar", "Solar", "Red", "Blue", "Deep", "Northern", "Southern", "Urban", "Analog", "Digital",
              "Cosmic", "Hidden", "Lost", "Broken", "Sacred", "Royal", "Neon", "Quiet", "Little", "Ghost", "Hollow",
              "Rising", "Second", "Wandering", "Open")
_LABEL_NOUN = ("Frost", "Wolf", "Raven", "River", "Mountain", "Harbor", "Forest", "Tide", "Ember", "Stone", "Oak",
               "Pine", "Fox", "Owl", "Lantern", "Compass", "Anchor", "Signal", "Static", "Wave", "Echo", "Orbit",
               "Pulse", "Bloom", "Crown", "Temple", "Garden", "Valley", "Island", "Desert", "Cassette", "Vinyl",
               "Groove", "Sound", "Circle")
_LABEL_SUFFIX = ("Records", "Records", "Records", "Recordings", "Music", "Sounds", "Audio", "Label", "Collective",
                 "Productions", "Entertainment", "Tapes", "Editions")
_MAJORS = ("Universal Harmony Group", "Sonora Music Entertainment", "Warnock Music", "Atlas Records",
           "Capitol Crown Records", "Island Bay Records", "Republic Avenue Records", "Columbia Heights Music")
_DISTRIBUTORS = ("Records DK", "123 Music", "Self-released", "Independent", "DistroWave", "TuneLoad")

_ODD_TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("{w} 🔥", "🌙 {w}", "{w} ✨🎧", "💀{w}💀", "{w} 🇸🇪", "🎹", "{w} 👁️‍🗨️", "{w} 🏳️‍🌈"),  # emoji, flags, ZWJ
    ("فرقة {w}", "نور الليل", "صوت {w}", "أحلام", "שירת הים", "להקת {w}", "הלילה", "{w} و الأصدقاء"),  # RTL + bidi
    ("東京ナイト", "星野{w}", "김민준", "{w} (소녀시대)", "小さな森", "月光", "夜に駆ける {w}", "青い鳥"),  # CJK
    ('"Weird" {w}', "{w} O'Brien", "Guns 'n' {w}s", "D'{w}", '{w} "The Voice"', "‘{w}’", "Rock'n'Roll {w}",
     "{w}'s \"Last\" Stand"),  # quotes
    ("",),  # very long, built separately
    ("<script>alert(1)</script>", "**{w}**", "[{w}](x)", "<b>{w}</b>", "{w} &amp; Co", "`{w}`",
     "Robert'); DROP TABLE artists;--", "{{{w}}}", "%s {w} %d", "${{w}}", "\\n{w}\\t"),  # markup / injection
    (" {w}", "{w} ", "  {w}  ", "{w}  {w}", "\u00a0{w}", "{w}\u200b"),  # spaces, NBSP, zero-width
    ("Zoë {w}", unicodedata.normalize("NFD", "Zoë {w}"), "Mötley {w}", "Ægir", "Sigur Rós", "Łukasz {w}",
     "Мумий {w}", "Ελένη {w}", "Þór {w}", "Ñandú"),  # diacritics (NFC and NFD), Cyrillic, Greek
)


# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------

_ALPHABET = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def _base62_digits(value: int, width: int) -> np.ndarray:
    out = np.zeros(width, dtype=np.uint8)
    for i in range(width - 1, -1, -1):
        value, out[i] = divmod(value, 62)
    return out


_MAX_ID_DIGITS = _base62_digits(2**128 - 1, 22)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _later_duplicates(key: np.ndarray) -> np.ndarray:
    """Mask of entries whose key already occurred earlier in the array."""
    order = np.argsort(key, kind="stable")
    sk = key[order]
    mask = np.zeros(len(key), dtype=bool)
    mask[order[1:][sk[1:] == sk[:-1]]] = True
    return mask


def _random_ids(rng: np.random.Generator, n: int, avoid: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
    """``n`` distinct 22-char base62 ids of uniformly random 128-bit values, and a uint64 key per id.

    Digits are drawn directly (first digit 0..7) and the few values above 2**128 - 1 are redrawn, which is
    uniform over 128-bit values without 128-bit arithmetic. Duplicates are found on a 64-bit mix of the first
    16 digits: equal ids have equal keys, so redrawing every later key clash (and every key in ``avoid``) is
    enough; the redraws come from the same generator, so this stays deterministic.
    """
    d = np.empty((n, 22), dtype=np.uint8)
    redo = np.arange(n)
    while len(redo):
        while len(redo):  # draw until every redrawn value fits in 128 bits
            k = len(redo)
            fresh = rng.integers(0, 62, size=(k, 22), dtype=np.uint8)
            fresh[:, 0] = rng.integers(0, 8, size=k, dtype=np.uint8)
            d[redo] = fresh
            neq = fresh != _MAX_ID_DIGITS
            first = neq.argmax(axis=1)
            over = neq.any(axis=1) & (fresh[np.arange(k), first] > _MAX_ID_DIGITS[first])
            redo = redo[over]
        halves = np.ascontiguousarray(d[:, :16]).view(np.uint64)
        key = (halves[:, 0] * _MIX) ^ halves[:, 1]
        bad = _later_duplicates(key)
        if avoid is not None and len(avoid):
            srt = np.sort(avoid)
            pos = np.minimum(np.searchsorted(srt, key), len(srt) - 1)
            bad |= srt[pos] == key
        redo = np.flatnonzero(bad)
    return [b.decode() for b in _ALPHABET[d].view("S22").ravel().tolist()], key


def _hex_strings(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    h = rng.bytes(n * nbytes).hex()
    w = 2 * nbytes
    return [h[i:i + w] for i in range(0, n * w, w)]


def _pick(rng: np.random.Generator, pool: Sequence[str] | np.ndarray, n: int) -> np.ndarray:
    arr = pool if isinstance(pool, np.ndarray) else np.array(pool, dtype=object)
    return arr[rng.integers(0, len(arr), size=n)]


def _groups(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort order of ``keys`` plus start/stop offsets of each group 0..n_groups-1."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n_groups)
    stops = np.cumsum(counts)
    return order, stops - counts, stops


def _draw_in_groups(rng: np.random.Generator, group: np.ndarray, order: np.ndarray, cumw: np.ndarray,
                    starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """For each entry of ``group``, draw a member of that group with probability proportional to its weight.

    ``cumw`` is the cumulative weight over members sorted by group (``order``); groups must be non-empty.
    """
    lo = np.where(starts[group] > 0, cumw[np.maximum(starts[group] - 1, 0)], 0.0)
    hi = cumw[stops[group] - 1]
    u = lo + rng.random(len(group)) * (hi - lo)
    pos = np.searchsorted(cumw, u, side="right")
    pos = np.clip(pos, starts[group], stops[group] - 1)
    return order[pos]


def _weighted_choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    cw = np.cumsum(weights, dtype=np.float64)
    return np.minimum(np.searchsorted(cw, rng.random(n) * cw[-1], side="right"), len(weights) - 1)


def _segment_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.maximum.reduceat(values, starts)


def _with_nulls(values: Iterable, null_mask: np.ndarray) -> list:
    return [None if m else v for v, m in zip(values, null_mask.tolist())]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


# --------------------------------------------------------------------------------------------------------------
# Generation state
# --------------------------------------------------------------------------------------------------------------

@dataclass
class _Vocab:
    genres: list[str]
    genre_family: np.ndarray
    genre_region: np.ndarray  # -1 = no region prefix
    words: np.ndarray  # pseudo-words, capitalised (object array)


@dataclass
class _World:
    """Everything drawn so far; phases add to it."""

    n_artists: int
    vocab: _Vocab | None = None
    # communities
    comm_family: np.ndarray | None = None
    comm_region: np.ndarray | None = None  # -1 = global
    comm_core: list[list[int]] | None = None
    comm_era: np.ndarray | None = None
    comm_labels: list[list[int]] | None = None
    comm_feat: np.ndarray | None = None  # (C, 7) logit means of the 0..1 audio features
    comm_tempo: np.ndarray | None = None
    labels: list[str] | None = None
    # artists
    a_comm: np.ndarray | None = None
    a_pop: np.ndarray | None = None
    a_followers: np.ndarray | None = None
    a_name: list[str] | None = None
    a_id: list[str] | None = None
    a_friends: np.ndarray | None = None
    a_label: np.ndarray | None = None  # (A, 2) label index, second = -1 when none
    a_center: np.ndarray | None = None
    ag_artist: np.ndarray | None = None
    ag_genre: np.ndarray | None = None
    # albums (in rowid order)
    al: dict | None = None
    # tracks (in rowid order)
    tr: dict | None = None
    ta_track: np.ndarray | None = None
    ta_artist: np.ndarray | None = None
    aa: dict | None = None
    markets: list[str] | None = None
    af: dict | None = None
    pl: dict | None = None
    pt: dict | None = None


# --------------------------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------------------------

def _build_vocab(rng: np.random.Generator, n_words: int) -> _Vocab:
    names: dict[str, tuple[int, int]] = {}  # dict keeps insertion order; first family wins on a clash
    for fi, fam in enumerate(_FAMILIES):
        for g in fam.genres:
            names.setdefault(g, (fi, -1))
        # A few regional names per family (the real vocabulary has ~770 genres in all), taken from the regions
        # the family's communities most often come from, so a regional community can have a regional core.
        pref = {k: w for k, w in fam.regions if k is not None}
        pairs = [(-pref.get(rk, 0.0), ti, ri, tmpl, rk) for ti, (tmpl, rks) in enumerate(fam.templates)
                 for ri, rk in enumerate(rks)]
        pairs.sort(key=lambda x: (x[0], x[2], x[1]))
        for _, ti, _, tmpl, rk in pairs[:_REGIONAL_PER_FAMILY]:
            adjs = _REGIONS[rk][0]
            names.setdefault(tmpl.format(adjs[ti % min(2, len(adjs))]), (fi, _R[rk]))
    genres = list(names)
    fam_arr = np.array([names[g][0] for g in genres], dtype=np.int64)
    reg_arr = np.array([names[g][1] for g in genres], dtype=np.int64)

    # Pseudo-words: CV(C) syllables, capitalised; duplicates removed in first-seen order.
    onsets = np.array(_ONSETS, dtype=object)
    vowels = np.array(_VOWELS, dtype=object)
    mids = np.array(_MID_CODAS, dtype=object)
    ends = np.array(_END_CODAS, dtype=object)
    m = int(n_words * 1.5) + 100

    def syllable(coda: bool) -> np.ndarray:
        c = np.where(rng.random(m) < 0.35, _pick(rng, mids, m), "") if coda else ""
        return _pick(rng, onsets, m) + _pick(rng, vowels, m) + c

    # Only the last syllable takes an ending, and it has no coda of its own: avoids "-sn", "-mn" clusters.
    w = syllable(True) + np.where(rng.random(m) < 0.3, syllable(True), "") + syllable(False) + _pick(rng, ends, m)
    seen = dict.fromkeys(s.capitalize() for s in w.tolist() if 4 <= len(s) <= 10)
    words = np.array(list(seen)[:n_words], dtype=object)
    return _Vocab(genres, fam_arr, reg_arr, words)


def _gen_communities(rng: np.random.Generator, world: _World) -> None:
    v = world.vocab
    n_comm = max(5, world.n_artists // 200)
    fam_w = np.array([f.weight for f in _FAMILIES], dtype=float)
    fam = _weighted_choice(rng, fam_w, n_comm)
    fam[: min(n_comm, len(_FAMILIES))] = np.arange(min(n_comm, len(_FAMILIES)))  # every family present
    fam = rng.permutation(fam)
    region = np.full(n_comm, -1, dtype=np.int64)
    core: list[list[int]] = []
    fam_genres = [np.flatnonzero(v.genre_family == fi) for fi in range(len(_FAMILIES))]
    for c in range(n_comm):
        f = _FAMILIES[fam[c]]
        keys = [k for k, _ in f.regions]
        p = np.array([w for _, w in f.regions], dtype=float)
        rk = keys[int(rng.choice(len(keys), p=p / p.sum()))]
        region[c] = -1 if rk is None else _R[rk]
        gs = fam_genres[fam[c]]
        plain = gs[v.genre_region[gs] == -1]
        regional = gs[v.genre_region[gs] == region[c]] if region[c] >= 0 else gs[:0]
        size = int(rng.integers(2, 6))
        n_reg = min(len(regional), int(rng.integers(1, 3))) if len(regional) else 0
        picks = list(rng.choice(regional, size=n_reg, replace=False)) if n_reg else []
        picks += list(rng.choice(plain, size=size - n_reg, replace=False))
        core.append([int(g) for g in picks])
    world.comm_family, world.comm_region, world.comm_core = fam, region, core
    # Era centres: mostly recent, some communities decades back.
    world.comm_era = 2023.0 - np.minimum(rng.exponential(13.0, n_comm), 58.0)

    # Labels: a few indies per community, then majors and distributors shared by everyone.
    labels: list[str] = []
    comm_labels: list[list[int]] = []
    for _c in range(n_comm):
        k = int(rng.integers(2, 6))
        ids = []
        for _ in range(k):
            style = rng.random()
            if style < 0.55:
                name = f"{_LABEL_ADJ[rng.integers(len(_LABEL_ADJ))]} {_LABEL_NOUN[rng.integers(len(_LABEL_NOUN))]}"
            elif style < 0.85:
                name = str(v.words[rng.integers(len(v.words))])
            else:
                name = f"{v.words[rng.integers(len(v.words))]} {_LABEL_NOUN[rng.integers(len(_LABEL_NOUN))]}"
            ids.append(len(labels))
            labels.append(f"{name} {_LABEL_SUFFIX[rng.integers(len(_LABEL_SUFFIX))]}")
        comm_labels.append(ids)
    world.labels = labels + list(_MAJORS) + list(_DISTRIBUTORS)
    world.comm_labels = comm_labels

    base = np.array([f.features for f in _FAMILIES], dtype=float)[fam]
    world.comm_feat = _logit(base) + rng.normal(0, 0.35, size=base.shape)
    world.comm_tempo = np.array([f.tempo for f in _FAMILIES], dtype=float)[fam] + rng.normal(0, 8, n_comm)


def _gen_artists(rng: np.random.Generator, world: _World) -> None:
    v, n = world.vocab, world.n_artists
    n_comm = len(world.comm_family)
    # Heavy-tailed community sizes; every community gets at least one artist.
    size_w = rng.lognormal(0.0, 1.0, n_comm)
    comm = np.concatenate([np.arange(n_comm), _weighted_choice(rng, size_w, n - n_comm)])
    comm = rng.permutation(comm)
    world.a_comm = comm

    mainstream = rng.normal(0.0, 0.5, n_comm)[comm]
    nonzero = rng.random(n) < _sigmoid(-0.15 + mainstream)
    pop = np.clip(np.rint(np.exp(rng.normal(2.2 + 0.3 * mainstream, 0.8))), 1, 95)
    pop = np.where(nonzero, pop, 0).astype(np.int64)
    world.a_pop = pop
    followers = np.rint(np.exp(0.15 * pop + 1.5 + rng.normal(0, 0.9, n)))
    followers = np.where(pop == 0, np.minimum(rng.geometric(0.08, n) - 1, 50), followers).astype(np.int64)
    world.a_followers = followers

    world.a_name = _artist_names(rng, world)
    world.a_id, _ = _random_ids(rng, n)

    # A few regular collaborators per artist, from the same community (weighted by popularity).
    order, starts, stops = _groups(comm, n_comm)
    cumw = np.cumsum((1.0 + pop[order]) ** 1.2)
    world.a_friends = _draw_in_groups(rng, np.repeat(comm, 4), order, cumw, starts, stops).reshape(n, 4)
    world.a_center = world.comm_era[comm] + rng.normal(0, 5, n)

    # Labels: majors for popular artists, the community's indies, self-release or a distributor for the tail.
    n_lab = len(world.labels)
    n_major, n_dist = len(_MAJORS), len(_DISTRIBUTORS)
    major0, dist0 = n_lab - n_major - n_dist, n_lab - n_dist
    lab_len = np.array([len(x) for x in world.comm_labels])
    lab_start = np.concatenate([[0], np.cumsum(lab_len)[:-1]])
    lab_flat = np.array([x for ls in world.comm_labels for x in ls], dtype=np.int64)
    lab = np.empty((n, 2), dtype=np.int64)
    for col in range(2):
        u = rng.random(n)
        own = lab_flat[lab_start[comm] + (rng.random(n) * lab_len[comm]).astype(np.int64)]
        other = rng.integers(0, major0, n)
        major = major0 + rng.integers(0, n_major, n)
        dist = dist0 + rng.integers(0, n_dist, n)
        p_major = np.where(pop >= 45, 0.6, 0.03)
        choice = np.where(u < p_major, major,
                          np.where(u < p_major + 0.62 * (1 - p_major), own,
                                   np.where(u < p_major + 0.78 * (1 - p_major), -2,  # self-released
                                            np.where(u < p_major + 0.92 * (1 - p_major), dist, other))))
        lab[:, col] = choice
    lab[rng.random(n) >= 0.35, 1] = -1
    world.a_label = lab

    # Genres: probability rises with popularity; drawn from the community core, the family, rarely elsewhere.
    has = rng.random(n) < _sigmoid(-2.9 + 0.1 * pop)
    who = np.flatnonzero(has)
    k = rng.choice([1, 2, 3, 4, 5], size=len(who), p=[0.3, 0.3, 0.2, 0.12, 0.08])
    d_artist = np.repeat(who, k)
    d_comm = comm[d_artist]
    u = rng.random(len(d_artist))
    core_len = np.array([len(c) for c in world.comm_core])
    core_flat = np.array([g for c in world.comm_core for g in c], dtype=np.int64)
    core_start = np.concatenate([[0], np.cumsum(core_len)[:-1]])
    # The first core genre is the community's label genre: favour it.
    ci = np.where(rng.random(len(d_artist)) < 0.35, 0, (rng.random(len(d_artist)) * core_len[d_comm]).astype(int))
    from_core = core_flat[core_start[d_comm] + ci]
    fam_of = world.comm_family[d_comm]
    g_order, g_starts, g_stops = _groups(v.genre_family, len(_FAMILIES))
    gi = g_starts[fam_of] + (rng.random(len(d_artist)) * (g_stops[fam_of] - g_starts[fam_of])).astype(int)
    from_family = g_order[gi]
    from_any = rng.integers(0, len(v.genres), len(d_artist))
    genre = np.where(u < 0.6, from_core, np.where(u < 0.93, from_family, from_any))
    key = d_artist.astype(np.int64) * len(v.genres) + genre
    _, first = np.unique(key, return_index=True)
    first.sort()
    world.ag_artist, world.ag_genre = d_artist[first], genre[first]


def _artist_names(rng: np.random.Generator, world: _World) -> list[str]:
    v, n = world.vocab, world.n_artists
    style = np.array([_FAMILIES[f].name_style for f in world.comm_family], dtype=object)[world.a_comm]
    w1, w2 = _pick(rng, v.words, n), _pick(rng, v.words, n)
    first = _pick(rng, _FIRST_NAMES, n)
    sw = _pick(rng, _SONG_WORDS, n)
    t = rng.random(n)
    names: list[str] = []
    for s, a, b, f, x, u in zip(style.tolist(), w1.tolist(), w2.tolist(), first.tolist(), sw.tolist(), t.tolist()):
        if s == "band":
            name = (a if u < 0.35 else f"The {a}s" if u < 0.5 else f"{x} {a}" if u < 0.7 else f"{a} {b}"
                    if u < 0.85 else f"The {x} {b}s" if u < 0.95 else f"{a} & the {x}s")
        elif s == "dj":
            name = (a if u < 0.45 else f"DJ {a}" if u < 0.6 else f"{a} & {b}" if u < 0.7 else f"{x} {a}"
                    if u < 0.8 else a.upper() if u < 0.9 else f"{a}{b.lower()}")
        elif s == "rapper":
            name = (a if u < 0.35 else f"Lil {a}" if u < 0.5 else f"MC {a}" if u < 0.6 else f"Young {a}"
                    if u < 0.7 else f"{f} {a}" if u < 0.85 else a.lower())
        elif s == "classical":
            name = (f"{f} {a}" if u < 0.55 else f"{a} Quartet" if u < 0.65 else f"{a} Philharmonic Orchestra"
                    if u < 0.75 else f"{a} Ensemble" if u < 0.85 else f"{a} Chamber Choir" if u < 0.92
                    else f"{f} {a}-{b}")
        else:  # person
            name = (f"{f} {a}" if u < 0.45 else a if u < 0.75 else f"{a} {b}" if u < 0.85 else f"{f} {a} Trio"
                    if u < 0.9 else f"{a} y {b}" if u < 0.95 else f"{a} & {b}")
        names.append(name)

    # ~1% odd names (every kind appears once there are at least 8), then names shared by 2-3 artists.
    n_odd = max(len(_ODD_TEMPLATES), n // 100)
    odd_at = rng.choice(n, size=n_odd, replace=False)
    for i, s in zip(odd_at.tolist(), _odd_names(rng, n_odd, v.words)):
        names[i] = s
    n_dup = max(2, n // 300)
    src = rng.choice(n, size=n_dup, replace=False)
    for s in src.tolist():
        for _ in range(1 + int(rng.random() < 0.3)):
            names[int(rng.integers(n))] = names[s]
    return names


def _odd_names(rng: np.random.Generator, k: int, words: np.ndarray) -> list[str]:
    """``k`` awkward names cycling over the odd kinds (emoji, RTL, CJK, quotes, long, markup, spaces, diacritics)."""
    out = []
    offset = int(rng.integers(len(_ODD_TEMPLATES)))
    for j in range(k):
        kind = (offset + j) % len(_ODD_TEMPLATES)
        w = str(words[rng.integers(len(words))])
        if kind == 4:
            parts = [str(x) for x in _pick(rng, words, 60)]
            s = " ".join(parts)
            s = s[: 300 + int(rng.integers(1, 120))].rstrip() + " " + w
        else:
            tmpls = _ODD_TEMPLATES[kind]
            s = tmpls[rng.integers(len(tmpls))].replace("{w}", w)
        out.append(s)
    return out


def _gen_releases(rng: np.random.Generator, world: _World) -> None:
    """Albums, tracks and credits; everything except the audio features and playlists."""
    v, n_art = world.vocab, world.n_artists
    pop, comm = world.a_pop, world.a_comm
    fam_of_comm = world.comm_family
    n_comm = len(fam_of_comm)

    # --- albums per artist: heavy-tailed, popular artists release more ----------------------------------------
    mu = rng.lognormal(0.0, 0.7, n_art) * (1.0 + pop / 20.0)
    mu = 2.8 * mu / mu.mean()
    n_alb = 1 + rng.poisson(mu)
    owner = np.repeat(np.arange(n_art), n_alb)
    n = len(owner)
    u = rng.random(n)
    atype = np.where(u < 0.6, 0, np.where(u < 0.9, 1, 2))  # 0 single, 1 album, 2 compilation
    various = (atype == 2) & (rng.random(n) < 0.55)  # various-artists compilation (others: best-of)
    n_tr = np.where(atype == 0, rng.choice([1, 2, 3, 4], size=n, p=[0.6, 0.23, 0.1, 0.07]),
                    np.where(atype == 1, 4 + rng.poisson(2.6, n), 6 + rng.poisson(5.0, n)))
    long = (atype > 0) & (rng.random(n) < 0.05)
    n_tr = n_tr + np.where(long, 10 + rng.poisson(6.0, n), 0)
    # Co-headlined albums: a second album artist, a regular collaborator.
    co = np.where((atype != 2) & (rng.random(n) < 0.04), world.a_friends[owner, rng.integers(0, 4, n)], -1)
    co[co == owner] = -1

    # Shuffle release order so rowids carry no artist or community locality.
    perm = rng.permutation(n)
    owner, atype, various, n_tr, co = owner[perm], atype[perm], various[perm], n_tr[perm], co[perm]
    al_comm = comm[owner]

    # Release dates around the artist's career centre.
    year = np.rint(world.a_center[owner] + rng.normal(0, 4, n) + np.where(atype == 2, np.abs(rng.normal(0, 5, n)),
                                                                           0))
    year = np.clip(year, 1900, 2025).astype(np.int64)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    u = rng.random(n)
    prec = np.where(u < 0.75, 2, np.where(u < 0.85, 1, 0))  # 2 day, 1 month, 0 year
    bogus = rng.random(n) < 0.0005
    prec[bogus] = 0
    prec_names = ("year", "month", "day")
    ystr = np.array([f"{y:04d}" for y in range(2100)], dtype=object)
    mstr = np.array([f"-{m:02d}" for m in range(13)], dtype=object)
    dstr = np.array([f"-{d:02d}" for d in range(32)], dtype=object)
    rdate = np.where(prec == 2, ystr[year] + mstr[month] + dstr[day],
                     np.where(prec == 1, ystr[year] + mstr[month], ystr[year]))
    rdate[bogus] = "0000"
    rdate = rdate.tolist()
    prec_str = [prec_names[p] for p in prec.tolist()]

    # Labels: the artist's main label mostly, its second one sometimes.
    alab = world.a_label[owner]
    use2 = (alab[:, 1] >= 0) & (rng.random(n) < 0.3)
    lab_idx = np.where(use2, alab[:, 1], alab[:, 0])
    label = [world.a_name[o] if li == -2 else world.labels[li] for li, o in zip(lab_idx.tolist(), owner.tolist())]

    # --- tracks ---------------------------------------------------------------------------------------------
    t_album = np.repeat(np.arange(n), n_tr)
    n_t = len(t_album)
    al_start = np.concatenate([[0], np.cumsum(n_tr)[:-1]])
    pos_in_album = np.arange(n_t) - al_start[t_album]
    two_discs = n_tr >= 18
    half = (n_tr + 1) // 2
    disc = np.where(two_discs[t_album] & (pos_in_album >= half[t_album]), 2, 1)
    track_no = np.where(disc == 2, pos_in_album - half[t_album], pos_in_album) + 1

    # Primary artist: the album owner, except on various-artists compilations.
    t_owner = owner[t_album]
    t_comm = comm[t_owner]
    a_order, a_starts, a_stops = _groups(comm, n_comm)
    a_cumw = np.cumsum(1.0 + pop[a_order].astype(float))
    va = various[t_album] & (rng.random(n_t) >= 0.3)
    va_idx = np.flatnonzero(va)
    in_comm = rng.random(len(va_idx)) < 0.88
    va_comm = np.where(in_comm, t_comm[va_idx], rng.integers(0, n_comm, len(va_idx)))
    primary = t_owner.copy()
    primary[va_idx] = _draw_in_groups(rng, va_comm, a_order, a_cumw, a_starts, a_stops)
    second = co[t_album]

    # Featured artists: regular collaborators, the community, sometimes anyone.
    p_feat = np.array([f.featuring for f in _FAMILIES])[fam_of_comm[comm[primary]]]
    has_feat = rng.random(n_t) < p_feat
    n_feat = np.where(has_feat, rng.choice([1, 2, 3], size=n_t, p=[0.8, 0.15, 0.05]), 0)
    f_track = np.repeat(np.arange(n_t), n_feat)
    f_rank = np.arange(len(f_track)) - np.repeat(np.cumsum(n_feat) - n_feat, n_feat)
    f_prim = primary[f_track]
    u = rng.random(len(f_track))
    friend = world.a_friends[f_prim, rng.integers(0, 4, len(f_track))]
    same = _draw_in_groups(rng, comm[f_prim], a_order, a_cumw, a_starts, a_stops)
    anyone = _weighted_choice(rng, 1.0 + pop.astype(float), len(f_track))
    feat = np.where(u < 0.6, friend, np.where(u < 0.86, same, anyone))

    # Credits in order: primary, co-headliner, featured (dropping repeats of an artist on a track).
    c_track = np.concatenate([np.arange(n_t), np.flatnonzero(second >= 0), f_track])
    c_artist = np.concatenate([primary, second[second >= 0], feat])
    c_rank = np.concatenate([np.zeros(n_t, np.int64), np.ones(int((second >= 0).sum()), np.int64), 2 + f_rank])
    o = np.lexsort((c_rank, c_track))
    c_track, c_artist, c_rank = c_track[o], c_artist[o], c_rank[o]
    _, first = np.unique(c_track.astype(np.int64) * n_art + c_artist, return_index=True)
    keep = np.zeros(len(c_track), bool)
    keep[first] = True
    world.ta_track, world.ta_artist = c_track[keep], c_artist[keep]
    c_rank = c_rank[keep]

    # --- popularity: from the primary artist, minus album and track drift; exactly ~80% of tracks at 0 -------
    al_drift = np.abs(rng.normal(0, 12, n))
    base = pop[primary] - al_drift[t_album] - np.abs(rng.normal(0, 5, n_t)) - 0.3 * track_no + rng.normal(0, 2, n_t)
    thr = np.quantile(base, 0.80)
    t_pop = np.where(base > thr, np.clip(np.rint(base), 1, 100), 0).astype(np.int64)
    al_pop = _segment_max(t_pop, al_start)

    # --- names ---------------------------------------------------------------------------------------------
    fam_t = fam_of_comm[comm[primary]]
    t_name = _track_titles(rng, v, fam_t)
    is_classical = (fam_t == _FAMILY_NAMES.index("classical"))
    # The same recording re-released (single then album, compilations): same title and ISRC.
    t_order, t_starts, t_stops = _groups(primary, n_art)
    cnt = t_stops - t_starts
    reuse = (rng.random(n_t) < 0.15) & (cnt[primary] >= 2)
    src = t_order[t_starts[primary] + (rng.random(n_t) * cnt[primary]).astype(np.int64)]
    src = np.where(reuse & (src < np.arange(n_t)), src, np.arange(n_t))  # only copy from earlier rows
    t_name = t_name[src]
    suffix = rng.random(n_t) < 0.07
    t_name[suffix] = t_name[suffix] + _pick(rng, _VERSION_SUFFIXES, int(suffix.sum()))
    # "(feat. X)" in some titles with a featured artist.
    feat_pos = np.flatnonzero(c_rank == 2)
    ft = world.ta_track[feat_pos]
    ft_mask = (rng.random(len(ft)) < 0.3) & ~is_classical[ft]
    names_arr = np.array(world.a_name, dtype=object)
    t_name[ft[ft_mask]] = t_name[ft[ft_mask]] + " (feat. " + names_arr[world.ta_artist[feat_pos][ft_mask]] + ")"
    odd = rng.random(n_t) < 0.01
    t_name[odd] = np.array(_odd_names(rng, int(odd.sum()), v.words), dtype=object)

    # Album names: singles carry their first track's title; the rest get album-like titles.
    al_name = _album_titles(rng, world, al_comm, atype, various, owner)
    single = atype == 0
    al_name[single] = t_name[al_start[single]]
    odd = rng.random(n) < 0.01
    al_name[odd] = np.array(_odd_names(rng, int(odd.sum()), v.words), dtype=object)
    al_name[rng.random(n) < 0.00015] = ""  # taken-down releases

    # --- identifiers -----------------------------------------------------------------------------------------
    region = world.comm_region[al_comm]
    # ISRC "CC" + 3-char registrant + 2-digit year + 5 digits, assembled as bytes (too many for f-strings).
    cc_lists = [_REGIONS[k][2] for k in _REGION_KEYS] + [("US", "GB", "US", "CA", "AU")]
    cc_bytes = [np.array(c, dtype="S2").view(np.uint8).reshape(-1, 2) for c in cc_lists]
    cc_pick = rng.integers(0, 1 << 30, n)
    al_cc = np.empty((n, 2), dtype=np.uint8)
    for ri, cb in enumerate(cc_bytes):
        sel = (region == ri) if ri < len(_REGION_KEYS) else (region < 0)
        al_cc[sel] = cb[cc_pick[sel] % len(cb)]
    upper = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
    registrant = upper[rng.integers(0, 36, size=(len(world.labels) + n_art, 3))]
    reg_of_album = registrant[np.where(lab_idx >= 0, lab_idx, len(world.labels) + owner)]
    yy = year[t_album] % 100
    num = rng.integers(0, 100_000, n_t)
    digits = np.stack([yy // 10, yy % 10] + [num // 10**k % 10 for k in (4, 3, 2, 1, 0)], axis=1)
    isrc_b = np.concatenate([al_cc[t_album], reg_of_album[t_album], (digits + 48).astype(np.uint8)], axis=1)
    isrc_arr = np.ascontiguousarray(isrc_b[src]).view("S12").ravel()
    isrc_null = rng.random(n_t) >= 0.77
    upc_null = rng.random(n) < 0.06
    upc = [f"{x:013d}" if x % 3 else f"{x // 10:012d}" for x in rng.integers(10**11, 10**13, n).tolist()]
    amg_null = rng.random(n) >= 0.03
    amg = [f"R  {x}" for x in rng.integers(100_000, 3_000_000, n).tolist()]

    al_id, al_hi = _random_ids(rng, n)
    t_id, t_hi = _random_ids(rng, n_t)

    # --- markets ------------------------------------------------------------------------------------------
    pool: list[str] = [",".join(_ALL_MARKETS)]
    for drop in (["JP"], ["KR"], ["RU", "BY"], ["US"], ["CN", "IN"], ["IN"], ["PK", "BD"], ["IL"]):
        pool.append(",".join(m for m in _ALL_MARKETS if m not in drop))
    n_global = len(pool)
    region_pool_start = len(pool)
    for rk in _REGION_KEYS:
        pool.append(",".join(sorted(_REGIONS[rk][1])))
    anglo = len(pool)
    pool += ["CA,US", "GB,IE", "AU,NZ", "CA,GB,IE,US"]
    empty = len(pool)
    pool.append("")
    n_rand = max(10, n // 40)
    rand_start = len(pool)
    all_m = np.array(_ALL_MARKETS, dtype=object)
    # Odd availability: near-worldwide with some markets missing (licensing), or a scattered handful.
    for _ in range(n_rand):
        if rng.random() < 0.6:
            keep = np.ones(len(all_m), dtype=bool)
            keep[rng.choice(len(all_m), size=int(rng.integers(1, 40)), replace=False)] = False
            pool.append(",".join(all_m[keep].tolist()))
        else:
            k = int(rng.integers(1, 30))
            pool.append(",".join(sorted(all_m[rng.choice(len(all_m), size=k, replace=False)].tolist())))
    u = rng.random(n)
    regional = np.where(region >= 0, region_pool_start + np.maximum(region, 0), anglo + rng.integers(0, 4, n))
    m_al = np.where(u < 0.70, 0, np.where(u < 0.80, rng.integers(1, n_global, n),
                                          np.where(u < 0.95, regional, np.where(u < 0.99, rand_start +
                                                                                rng.integers(0, n_rand, n), empty))))
    m_tr = m_al[t_album].copy()
    diff = rng.random(n_t) < 0.05
    m_tr[diff] = rng.integers(0, n_global, int(diff.sum()))
    # rowids in order of first use (albums first); identical strings share a row.
    used = np.concatenate([m_al, m_tr])
    uniq, first_at = np.unique(used, return_index=True)
    uniq = uniq[np.argsort(first_at)]
    row_of: dict[str, int] = {}
    pool_row = np.zeros(len(pool), dtype=np.int64)
    for p in uniq.tolist():
        pool_row[p] = row_of.setdefault(pool[p], len(row_of) + 1)
    world.markets = list(row_of)

    # --- durations, explicit, previews -----------------------------------------------------------------------
    dur_med = np.array([f.duration_s for f in _FAMILIES])[fam_t]
    dur = np.rint(np.exp(np.log(dur_med * 1000) + rng.normal(0, 0.35, n_t))).astype(np.int64)
    snap = rng.random(n_t) < 0.03
    dur[snap] = np.maximum(1, np.rint(dur[snap] / 60000)) * 60000 + rng.integers(-300, 300, int(snap.sum()))
    dur = np.clip(dur, 5_000, 3_600_000)
    explicit = (rng.random(n_t) < np.array([f.explicit for f in _FAMILIES])[fam_t]).astype(np.int64)
    preview_null = rng.random(n_t) >= 0.3
    preview = np.full(n_t, None, dtype=object)
    preview[~preview_null] = ["https://p.scdn.co/mp3-preview/" + h for h in
                              _hex_strings(rng, int((~preview_null).sum()), 20)]

    # fetched_at: increasing with rowid, as if crawled in that order.
    al_fetched = BASE_EPOCH_MS + 40_000_000 + np.cumsum(rng.integers(1, 2_000, n))
    t_fetched = BASE_EPOCH_MS + 90_000_000 + np.cumsum(rng.integers(1, 500, n_t))

    world.al = {
        "id": al_id, "hi": al_hi, "owner": owner, "co": co, "type": atype, "various": various, "n_tracks": n_tr,
        "start": al_start, "name": al_name, "label": label, "pop": al_pop, "year": year, "release_date": rdate,
        "precision": prec_str, "markets_rowid": pool_row[m_al], "upc": upc, "upc_null": upc_null, "amg": amg,
        "amg_null": amg_null, "fetched_at": al_fetched, "comm": al_comm,
    }
    world.tr = {
        "id": t_id, "hi": t_hi, "album": t_album, "track_number": track_no, "disc": disc, "primary": primary,
        "name": t_name, "pop": t_pop, "isrc": isrc_arr, "isrc_null": isrc_null, "markets_rowid": pool_row[m_tr],
        "duration": dur, "explicit": explicit, "preview": preview, "preview_null": preview_null,
        "fetched_at": t_fetched, "src": src, "family": fam_t,
    }
    _gen_artist_albums(world)


def _track_titles(rng: np.random.Generator, v: _Vocab, fam_t: np.ndarray) -> np.ndarray:
    """Titles drawn from a pool (real catalogues repeat titles a lot); classical tracks get work titles."""
    n_t = len(fam_t)
    m = max(2_000, n_t // 6)
    sw, pw = _pick(rng, _SONG_WORDS, m), _pick(rng, v.words, m)
    sw2 = _pick(rng, _SONG_WORDS, m)
    u = rng.random(m)
    pool = np.where(u < 0.3, sw, np.where(u < 0.5, sw + " " + sw2, np.where(
        u < 0.6, "The " + sw, np.where(u < 0.7, sw + " of the " + sw2, np.where(u < 0.85, pw, np.where(
            u < 0.93, pw + " " + sw, sw + " (" + pw + ")")))))).astype(object)
    names = pool[rng.integers(0, m, n_t)]
    cl = np.flatnonzero(fam_t == _FAMILY_NAMES.index("classical"))
    if len(cl):
        forms = _pick(rng, _CLASSICAL_FORMS, len(cl))
        keys = _pick(rng, _KEYS, len(cl))
        mv = _pick(rng, _MOVEMENTS, len(cl))
        nums = rng.integers(1, 40, len(cl)).tolist()
        ops = rng.integers(1, 130, len(cl)).tolist()
        names[cl] = [f"{f} No. {k} in {key}, Op. {o}: {m_}" for f, k, key, o, m_ in
                     zip(forms.tolist(), nums, keys.tolist(), ops, mv.tolist())]
    return names


def _album_titles(rng: np.random.Generator, world: _World, al_comm: np.ndarray, atype: np.ndarray,
                  various: np.ndarray, owner: np.ndarray) -> np.ndarray:
    v, n = world.vocab, len(atype)
    sw, sw2, pw = _pick(rng, _SONG_WORDS, n), _pick(rng, _SONG_WORDS, n), _pick(rng, v.words, n)
    u = rng.random(n)
    names = np.where(u < 0.3, sw + " " + sw2, np.where(u < 0.5, pw, np.where(
        u < 0.65, "The " + sw + " of " + pw, np.where(u < 0.8, sw, np.where(u < 0.9, pw + " " + sw, np.where(
            u < 0.95, "Live at " + pw, sw + " Vol. " + rng.integers(1, 6, n).astype(str).astype(object)))))))
    names = names.astype(object)
    comp = np.flatnonzero(atype == 2)
    genre_title = [v.genres[world.comm_core[c][0]].title() for c in al_comm[comp].tolist()]
    artist = [world.a_name[o] for o in owner[comp].tolist()]
    k = rng.integers(0, 4, len(comp)).tolist()
    yrs = rng.integers(1990, 2025, len(comp)).tolist()
    out = []
    for va, g, a, kk, y in zip(various[comp].tolist(), genre_title, artist, k, yrs):
        if va:
            out.append((f"{g} Essentials", f"Best of {g} {y}", f"{g} Anthems", f"{g} Classics Vol. {kk + 1}")[kk])
        else:
            out.append(("Greatest Hits", f"The Best of {a}", "Anthology", f"Essential {a}")[kk])
    names[comp] = np.array(out, dtype=object)
    return names


def _gen_artist_albums(world: _World) -> None:
    """artist_albums rows: album artists (index 0..k), compilation contributors, implicit featured artists."""
    al = world.al
    n = len(al["owner"])
    t_album = world.tr["album"]
    has_co = al["co"] >= 0
    # kind: 0 album artist, 1 appears-on (various-artists compilation), 2 implicit (featured on a track)
    r_album = [np.arange(n), np.flatnonzero(has_co)]
    r_artist = [al["owner"], al["co"][has_co]]
    r_kind = [np.zeros(n, np.int64), np.zeros(int(has_co.sum()), np.int64)]
    r_index = [np.zeros(n, np.int64), np.ones(int(has_co.sum()), np.int64)]
    r_order = [np.zeros(n, np.int64), np.ones(int(has_co.sum()), np.int64)]
    ta_album = t_album[world.ta_track]
    # A track's first credit is its primary artist; later credits are featured.
    first_credit = np.ones(len(world.ta_track), bool)
    first_credit[1:] = world.ta_track[1:] != world.ta_track[:-1]
    va = al["various"][ta_album] & first_credit
    r_album += [ta_album[va], ta_album[~first_credit]]
    r_artist += [world.ta_artist[va], world.ta_artist[~first_credit]]
    r_kind += [np.ones(int(va.sum()), np.int64), np.full(int((~first_credit).sum()), 2, np.int64)]
    r_index += [np.full(int(va.sum()), -1, np.int64), np.full(int((~first_credit).sum()), -1, np.int64)]
    pos = np.arange(len(world.ta_track), dtype=np.int64) + 2
    r_order += [pos[va], pos[~first_credit]]
    album, artist, kind = np.concatenate(r_album), np.concatenate(r_artist), np.concatenate(r_kind)
    index, order = np.concatenate(r_index), np.concatenate(r_order)
    # One row per (album, artist): the strongest link wins (album artist > appears-on > implicit).
    o = np.lexsort((order, kind, artist, album))
    album, artist, kind, index, order = album[o], artist[o], kind[o], index[o], order[o]
    keep = np.ones(len(album), bool)
    keep[1:] = (album[1:] != album[:-1]) | (artist[1:] != artist[:-1])
    album, artist, kind, index, order = album[keep], artist[keep], kind[keep], index[keep], order[keep]
    o = np.lexsort((order, kind, album))
    world.aa = {"album": album[o], "artist": artist[o], "kind": kind[o], "index": index[o]}


def _gen_audio_features(rng: np.random.Generator, world: _World) -> None:
    tr, n_art = world.tr, world.n_artists
    n_t = len(tr["id"])
    comm = world.a_comm
    # The shift brings the overall means near the real ones (dance .57, energy .51, speech .14, acoustic .42,
    # instrumental .32, liveness .20, valence .44).
    shift = np.array([-0.08, -0.2, 0.35, 0.25, 0.25, 0.0, -0.3])
    a_feat = world.comm_feat[comm] + shift + rng.normal(0, 0.25, (n_art, 7))
    a_tempo = world.comm_tempo[comm] + rng.normal(0, 6, n_art)
    prim = tr["primary"]
    noise_sd = np.array([0.45, 0.45, 0.5, 0.8, 1.6, 0.6, 0.6])
    x = _sigmoid(a_feat[prim] + rng.normal(0, 1, (n_t, 7)) * noise_sd)
    tempo = np.clip(a_tempo[prim] + rng.normal(0, 18, n_t), 60, 200)
    loud = np.clip(-20 + 20 * x[:, 1] + rng.normal(0, 2.5, n_t), -60, 0)
    fam_major = np.array([f.major for f in _FAMILIES])[world.comm_family[comm[prim]]]
    mode = (rng.random(n_t) < fam_major).astype(np.int64)
    key_p = np.array([9.3, 5.0, 8.5, 3.0, 7.0, 7.5, 5.5, 9.0, 5.5, 8.0, 5.0, 6.0])
    key = rng.choice(12, size=n_t, p=key_p / key_p.sum())
    key[rng.random(n_t) < 0.005] = -1
    ts = rng.choice([3, 4, 5, 6, 7], size=n_t, p=[0.09, 0.885, 0.015, 0.005, 0.005])
    # Re-released recordings share their features (up to rounding noise).
    src = tr["src"]
    x, tempo, loud, mode, key, ts = x[src], tempo[src], loud[src], mode[src], key[src], ts[src]
    null = rng.random(n_t) < 0.10
    # ~0.1% rows for track ids absent from tracks; rows in an order of their own (not tracks' rowid order).
    n_extra = max(1, n_t // 1000)
    extra_ids, _ = _random_ids(rng, n_extra, avoid=tr["hi"])
    order = rng.permutation(n_t + n_extra)
    world.af = {
        "order": order, "n_extra": n_extra, "extra_ids": extra_ids, "null": null, "x": np.round(x, 4),
        "tempo": np.round(tempo, 3), "loudness": np.round(loud, 3), "mode": mode, "key": key, "ts": ts,
        "fetched_at": BASE_EPOCH_MS + 200_000_000 + np.cumsum(rng.integers(1, 400, n_t + n_extra)),
        "extra_null": rng.random(n_extra) < 0.5, "extra_dur": rng.integers(60_000, 400_000, n_extra),
    }


def _gen_playlists(rng: np.random.Generator, world: _World) -> None:
    tr, v = world.tr, world.vocab
    n_pl = max(10, world.n_artists // 5)
    n_comm = len(world.comm_family)
    t_comm = world.a_comm[tr["primary"]]
    t_pop = tr["pop"].astype(float)
    # Communities with more popular tracks get more playlists.
    comm_w = np.bincount(t_comm, weights=1.0 + t_pop, minlength=n_comm)
    p_comm = _weighted_choice(rng, comm_w, n_pl)
    length = np.clip(np.rint(rng.lognormal(np.log(30), 0.55, n_pl)), 10, 80).astype(np.int64)
    purity = np.clip(rng.normal(0.87, 0.08, n_pl), 0.5, 1.0)
    # A few spare draws per playlist so that dropping repeated tracks still leaves `length` entries.
    e_pl = np.repeat(np.arange(n_pl), length + 8)
    n_e = len(e_pl)
    inside = rng.random(n_e) < purity[e_pl]
    order, starts, stops = _groups(t_comm, n_comm)
    cumw = np.cumsum(3.0 + t_pop[order] ** 1.2)  # tail tracks: ~15% of playlist entries
    in_track = _draw_in_groups(rng, p_comm[e_pl], order, cumw, starts, stops)
    out_track = _weighted_choice(rng, 0.05 + t_pop ** 2, n_e)
    track = np.where(inside, in_track, out_track)
    # A track appears once per playlist: drop later repeats, then renumber positions.
    key = e_pl.astype(np.int64) * len(t_pop) + track
    _, first = np.unique(key, return_index=True)
    first.sort()
    e_pl, track = e_pl[first], track[first]
    rank = np.arange(len(e_pl)) - np.concatenate([[0], np.cumsum(np.bincount(e_pl, minlength=n_pl))[:-1]])[e_pl]
    keep = rank < length[e_pl]
    e_pl, track, position = e_pl[keep], track[keep], rank[keep]
    n_e = len(e_pl)
    counts = np.bincount(e_pl, minlength=n_pl)
    u = rng.random(n_e)
    episode = u < 0.01
    local = (u >= 0.01) & (u < 0.014)

    # Playlist attributes.
    pl_id, _ = _random_ids(rng, n_pl)
    n_owner = max(5, n_pl // 3)
    owner_pool = [f"{w.lower()}{k}" if k % 3 else h for w, k, h in zip(
        _pick(rng, v.words, n_owner).tolist(), rng.integers(0, 10_000, n_owner).tolist(),
        ["".join(c) for c in np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))[
            rng.integers(0, 36, (n_owner, 28))].tolist()])]
    owner_idx = np.minimum(rng.zipf(1.6, n_pl) - 1, n_owner - 1)
    editorial = rng.random(n_pl) < 0.03
    owner_id = ["spotify" if e else owner_pool[o] for o, e in zip(owner_idx.tolist(), editorial.tolist())]
    owner_disp = ["Spotify" if e else owner_pool[o].capitalize() for o, e in zip(owner_idx.tolist(),
                                                                               editorial.tolist())]
    core0 = [v.genres[world.comm_core[c][0]] for c in p_comm.tolist()]
    core1 = [v.genres[world.comm_core[c][-1]] for c in p_comm.tolist()]
    fam = [_FAMILY_NAMES[world.comm_family[c]] for c in p_comm.tolist()]
    # The most popular artist in each playlist, for "This Is ..." names.
    top_artist = np.zeros(n_pl, dtype=np.int64)
    ok = ~(episode | local)
    e_pop = np.where(ok, t_pop[track], -1)
    o = np.lexsort((-e_pop, e_pl))
    first_e = np.concatenate([[0], np.flatnonzero(np.diff(e_pl[o])) + 1])
    top_artist[e_pl[o][first_e]] = tr["primary"][track[o][first_e]]
    words = _pick(rng, v.words, n_pl).tolist()
    sw = _pick(rng, _SONG_WORDS, n_pl).tolist()
    t = rng.random(n_pl).tolist()
    yrs = rng.integers(196, 203, n_pl).tolist()
    names = []
    for g0, g1, f, w, s, u_, y, ta in zip(core0, core1, fam, words, sw, t, yrs, top_artist.tolist()):
        names.append(
            g0.title() if u_ < 0.12 else f"{g0} essentials" if u_ < 0.22 else f"Best of {f}" if u_ < 0.27
            else f"{s} vibes" if u_ < 0.37 else f"{w} mix" if u_ < 0.47 else f"{y * 10}s {g1}" if u_ < 0.55
            else f"This Is {world.a_name[ta]}" if u_ < 0.63 else f"{s.lower()} {g1}" if u_ < 0.73
            else "my playlist" if u_ < 0.76 else f"{w}'s {s.lower()} songs" if u_ < 0.86 else f"{g0} & {g1}")
    odd = np.flatnonzero(rng.random(n_pl) < 0.01)
    for i, s in zip(odd.tolist(), _odd_names(rng, len(odd), v.words)):
        names[i] = s
    desc_kind = rng.random(n_pl)
    descr = [None if d < 0.45 else "" if d < 0.55 else f"The best {g0} tracks, updated weekly."
             if d < 0.8 else f"{g1} for {s.lower()} days" for d, g0, g1, s in zip(desc_kind.tolist(), core0, core1,
                                                                                  sw)]
    followers = np.rint(1000 + np.exp(rng.normal(6.5, 1.9, n_pl))).astype(np.int64)
    small = rng.random(n_pl) < 0.04
    followers[small] = rng.integers(0, 1000, int(small.sum()))
    followers[editorial] *= 50
    created = 1_752_000_000 - rng.integers(86_400, 8 * 365 * 86_400, n_pl)
    gap = np.maximum(60, (1_752_000_000 - created) // (counts + 1))
    added_at = created[e_pl] + position * gap[e_pl] + (rng.random(n_e) * gap[e_pl]).astype(np.int64)
    ep_ids, _ = _random_ids(rng, int(episode.sum()))
    local_names = _pick(rng, _SONG_WORDS, int(local.sum()))
    local_art = _pick(rng, v.words, int(local.sum()))
    world.pl = {
        "id": pl_id, "snapshot": _hex_strings(rng, n_pl, 16), "name": names, "description": descr,
        "collaborative": (rng.random(n_pl) < 0.01).astype(np.int64), "owner_id": owner_id,
        "owner_display": owner_disp, "followers": followers, "tracks_total": counts, "comm": p_comm,
        "fetched_at": BASE_EPOCH_MS + 300_000_000 + np.cumsum(rng.integers(1, 3000, n_pl)),
        "mosaic": rng.random(n_pl) < 0.6, "img_hex": _hex_strings(rng, n_pl, 20),
    }
    world.pt = {
        "pl": e_pl, "position": position, "track": track, "episode": episode, "local": local, "ep_ids": ep_ids,
        "added_at": added_at, "local_names": local_names, "local_artists": local_art,
        "local_dur": rng.integers(60_000, 400_000, int(local.sum()))
    }


# --------------------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: index builds sort in memory
    return conn


def _insert(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    conn.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)


def _chunked(n: int, rows: Callable[[int, int], Iterable[tuple]], chunk: int = 1 << 18) -> Iterator[tuple]:
    """``rows(a, b)`` for consecutive ranges [a, b) of 0..n, chained: the same rows as ``rows(0, n)``."""
    for a in range(0, n, chunk):
        yield from rows(a, min(n, a + chunk))


def _create_indexes(conn: sqlite3.Connection, file: SourceFile) -> None:
    conn.executescript(index_ddl(file))


def _image_rows(owner_rowids: np.ndarray, hexes: list[str], sizes: Sequence[int],
                prefixes: Sequence[str]) -> Iterable[tuple]:
    """One row per (owner, size), widest first, the same image id at every size (as Spotify serves them)."""
    k = len(sizes)
    rowid = np.repeat(owner_rowids, k).tolist()
    width = np.tile(np.asarray(sizes), len(owner_rowids)).tolist()
    url = (np.tile(np.array([f"https://i.scdn.co/image/{p}" for p in prefixes], dtype=object), len(hexes))
           + np.repeat(np.array(hexes, dtype=object), k)).tolist()
    return zip(rowid, width, width, url)


def _write_main(path: Path, world: _World, variant: SchemaVariant, rng: np.random.Generator) -> dict[str, int]:
    al, tr, n_art = world.al, world.tr, world.n_artists
    n_al, n_t = len(al["id"]), len(tr["id"])
    counts: dict[str, int] = {}
    with closing(_connect(path)) as conn:
        conn.executescript(ddl(SourceFile.MAIN, variant=variant, indexes=False))
        conn.execute("BEGIN")
        a_fetched = (BASE_EPOCH_MS + np.cumsum(rng.integers(1, 3000, n_art))).tolist()
        _insert(conn, "artists", ("rowid", "id", "fetched_at", "name", "followers_total", "popularity"),
                zip(range(1, n_art + 1), world.a_id, a_fetched, world.a_name, world.a_followers.tolist(),
                    world.a_pop.tolist()))
        counts["artists"] = n_art
        genres = world.vocab.genres
        _insert(conn, "artist_genres", ("artist_rowid", "genre"),
                zip((world.ag_artist + 1).tolist(), [genres[g] for g in world.ag_genre.tolist()]))
        counts["artist_genres"] = len(world.ag_artist)
        with_img = np.flatnonzero((world.a_pop > 0) | (rng.random(n_art) < 0.1))
        rows = _image_rows(with_img + 1, _hex_strings(rng, len(with_img), 12), (640, 320, 160),
                           ("ab6761610000e5eb", "ab67616100005174", "ab6761610000f178"))
        _insert(conn, "artist_images", ("artist_rowid", "width", "height", "url"), rows)
        counts["artist_images"] = 3 * len(with_img)
        _insert(conn, "available_markets", ("rowid", "available_markets"),
                zip(range(1, len(world.markets) + 1), world.markets))
        counts["available_markets"] = len(world.markets)

        aa = world.aa
        _insert(conn, "artist_albums", ("artist_rowid", "album_rowid", "is_appears_on", "is_implicit_appears_on",
                                        "index_in_album"),
                zip((aa["artist"] + 1).tolist(), (aa["album"] + 1).tolist(), (aa["kind"] == 1).astype(int).tolist(),
                    (aa["kind"] == 2).astype(int).tolist(), _with_nulls(aa["index"].tolist(), aa["index"] < 0)))
        counts["artist_albums"] = len(aa["album"])

        atype_names = np.array(["single", "album", "compilation"], dtype=object)[al["type"]].tolist()
        cr_null = rng.random(n_al) < 0.05
        years = al["year"].tolist()
        c_line = [f"{y} {lab}" for y, lab in zip(years, al["label"])]
        p_line = [f"℗ {y} {lab}" for y, lab in zip(years, al["label"])]
        _insert(conn, "albums", ("rowid", "id", "fetched_at", "name", "album_type", "available_markets_rowid",
                                 "external_id_upc", "external_id_amgid", "copyright_c", "copyright_p", "label",
                                 "popularity", "release_date", "release_date_precision", "total_tracks"),
                zip(range(1, n_al + 1), al["id"], al["fetched_at"].tolist(), al["name"].tolist(), atype_names,
                    al["markets_rowid"].tolist(), _with_nulls(al["upc"], al["upc_null"]),
                    _with_nulls(al["amg"], al["amg_null"]), _with_nulls(c_line, cr_null), _with_nulls(p_line, cr_null),
                    al["label"], al["pop"].tolist(), al["release_date"], al["precision"], al["n_tracks"].tolist()))
        counts["albums"] = n_al
        with_img = np.flatnonzero((al["pop"] > 0) | (rng.random(n_al) < 0.05))
        rows = _image_rows(with_img + 1, _hex_strings(rng, len(with_img), 12), (640, 300, 64),
                           ("ab67616d0000b273", "ab67616d00001e02", "ab67616d00004851"))
        _insert(conn, "album_images", ("album_rowid", "width", "height", "url"), rows)
        counts["album_images"] = 3 * len(with_img)

        cols = ["rowid", "id", "fetched_at", "name", "preview_url", "album_rowid", "track_number",
                "external_id_isrc", "popularity", "available_markets_rowid", "disc_number", "duration_ms", "explicit"]
        blog = variant is SchemaVariant.BLOG
        if blog:
            cols += ["external_id_ean", "external_id_upc"]

        def track_rows(a: int, b: int) -> Iterable[tuple]:
            data = [range(a + 1, b + 1), tr["id"][a:b], tr["fetched_at"][a:b].tolist(), tr["name"][a:b].tolist(),
                    tr["preview"][a:b].tolist(), (tr["album"][a:b] + 1).tolist(), tr["track_number"][a:b].tolist(),
                    _with_nulls([x.decode() for x in tr["isrc"][a:b].tolist()], tr["isrc_null"][a:b]),
                    tr["pop"][a:b].tolist(), tr["markets_rowid"][a:b].tolist(), tr["disc"][a:b].tolist(),
                    tr["duration"][a:b].tolist(), tr["explicit"][a:b].tolist()]
            if blog:
                data += [[None] * (b - a), [None] * (b - a)]
            return zip(*data)

        # Python rows are built a chunk at a time: all 16M tracks of a 1M-artist demo as tuples took ~9 GB
        _insert(conn, "tracks", cols, _chunked(n_t, track_rows))
        counts["tracks"] = n_t
        _insert(conn, "track_artists", ("track_rowid", "artist_rowid"),
                _chunked(len(world.ta_track), lambda a, b: zip((world.ta_track[a:b] + 1).tolist(),
                                                               (world.ta_artist[a:b] + 1).tolist())))
        counts["track_artists"] = len(world.ta_track)
        conn.execute("COMMIT")
        _create_indexes(conn, SourceFile.MAIN)
    return counts


def _write_audio_features(path: Path, world: _World) -> dict[str, int]:
    af, tr = world.af, world.tr
    n_t = len(tr["id"])
    n_all = n_t + af["n_extra"]
    order = af["order"]
    # Column-wise: the extra (unknown) track ids sit after the real ones, then everything is permuted.
    ids = np.array(tr["id"] + af["extra_ids"], dtype=object)[order]
    null = np.concatenate([af["null"], af["extra_null"]])[order]
    filler = np.zeros(af["n_extra"])

    def col(values: np.ndarray, extra: np.ndarray | float) -> np.ndarray:
        return np.concatenate([values, np.broadcast_to(extra, af["n_extra"]).astype(values.dtype)])[order]

    x = af["x"]
    cols = [
        col(tr["duration"], af["extra_dur"]), col(af["ts"], 4), col(af["tempo"], 120.5), col(af["key"], 0),
        col(af["mode"], 1), col(x[:, 0], filler + 0.5), col(x[:, 1], filler + 0.5), col(af["loudness"], -8.0),
        col(x[:, 2], filler + 0.05), col(x[:, 3], filler + 0.3), col(x[:, 4], filler + 0.1),
        col(x[:, 5], filler + 0.1), col(x[:, 6], filler + 0.5),
    ]
    fetched, null_int = af["fetched_at"], null.astype(np.int64)

    def rows(a: int, b: int) -> Iterable[tuple]:
        # Python objects a chunk at a time (NULL where the response was null): whole columns took ~8 GB at 1M
        out = []
        for c in cols:
            o = c[a:b].astype(object)
            o[null[a:b]] = None
            out.append(o.tolist())
        return zip(range(a + 1, b + 1), ids[a:b].tolist(), fetched[a:b].tolist(), null_int[a:b].tolist(), *out)

    with closing(_connect(path)) as conn:
        conn.executescript(ddl(SourceFile.AUDIO_FEATURES, indexes=False))
        conn.execute("BEGIN")
        _insert(conn, "track_audio_features",
                ("rowid", "track_id", "fetched_at", "null_response", "duration_ms", "time_signature", "tempo", "key",
                 "mode", "danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness",
                 "liveness", "valence"),
                _chunked(n_all, rows))
        conn.execute("COMMIT")
        _create_indexes(conn, SourceFile.AUDIO_FEATURES)
    return {"track_audio_features": n_all}


def _write_playlists(path: Path, world: _World) -> dict[str, int]:
    pl, pt, tr = world.pl, world.pt, world.tr
    n_pl, n_e = len(pl["id"]), len(pt["pl"])
    with closing(_connect(path)) as conn:
        conn.executescript(ddl(SourceFile.PLAYLISTS, indexes=False))
        conn.execute("BEGIN")
        _insert(conn, "playlists", ("rowid", "id", "snapshot_id", "fetched_at", "name", "description",
                                    "collaborative", "public", "primary_color", "owner_id", "owner_display_name",
                                    "followers_total", "tracks_total"),
                zip(range(1, n_pl + 1), pl["id"], pl["snapshot"], pl["fetched_at"].tolist(), pl["name"],
                    pl["description"], pl["collaborative"].tolist(), [1] * n_pl, [None] * n_pl, pl["owner_id"],
                    pl["owner_display"], pl["followers"].tolist(), pl["tracks_total"].tolist()))
        img = [(r, 640, 640, f"https://mosaic.scdn.co/640/ab67616d00001e02{h}") if m else
               (r, None, None, f"https://image-cdn-ak.spotifycdn.com/image/ab67706c0000da84{h[:24]}")
               for r, m, h in zip(range(1, n_pl + 1), pl["mosaic"].tolist(), pl["img_hex"])]
        _insert(conn, "playlist_images", ("playlist_rowid", "width", "height", "url"), img)

        ep, loc = pt["episode"], pt["local"]
        ep_iter, ln_iter = iter(pt["ep_ids"]), iter(pt["local_names"].tolist())
        la_iter, ld_iter = iter(pt["local_artists"].tolist()), iter(pt["local_dur"].tolist())
        owners = pl["owner_id"]

        def rows():
            for p, pos, t, e, lo, at in zip(pt["pl"].tolist(), pt["position"].tolist(), (pt["track"] + 1).tolist(),
                                            ep.tolist(), loc.tolist(), pt["added_at"].tolist()):
                owner = owners[p] if owners[p] != "spotify" else None
                if e:
                    yield (p + 1, pos, 1, None, next(ep_iter), at, owner, None, None, 0, None, None, None, None, None)
                elif lo:
                    name, art = next(ln_iter), next(la_iter)
                    yield (p + 1, pos, 0, None, None, at, owner, None, None, 1, name,
                           f"spotify:local:{art}::{name}:{180}", None, art, next(ld_iter))
                else:
                    yield (p + 1, pos, 0, t, None, at, owner, None, None, 0, None, None, None, None, None)

        _insert(conn, "playlist_tracks", ("playlist_rowid", "position", "is_episode", "track_rowid",
                                          "id_if_not_in_tracks_table", "added_at", "added_by_id", "primary_color",
                                          "video_thumbnail_url", "is_local", "name_if_is_local", "uri_if_is_local",
                                          "album_name_if_is_local", "artists_name_if_is_local",
                                          "duration_ms_if_is_local"), rows())
        conn.execute("COMMIT")
        _create_indexes(conn, SourceFile.PLAYLISTS)
    del tr
    return {"playlists": n_pl, "playlist_images": n_pl, "playlist_tracks": n_e}


def _write_ground_truth(path: Path, world: _World) -> None:
    v = world.vocab
    comm = world.a_comm
    core = ["|".join(v.genres[g] for g in c) for c in world.comm_core]
    table = pa.table({
        "artist_rowid": pa.array(np.arange(1, world.n_artists + 1), pa.int64()),
        "artist_id": pa.array(world.a_id, pa.string()),
        "community": pa.array(comm, pa.int32()),
        "family": pa.array([_FAMILY_NAMES[world.comm_family[c]] for c in comm.tolist()], pa.string()),
        "core_genres": pa.array([core[c] for c in comm.tolist()], pa.string()),
    })
    pq.write_table(table, path)


def _stats(world: _World) -> dict:
    n_art = world.n_artists
    tr, al = world.tr, world.al
    n_t = len(tr["id"])
    credits = np.bincount(world.ta_track, minlength=n_t)
    t_comm = world.a_comm[tr["primary"]]
    pt = world.pt
    ok = ~(pt["episode"] | pt["local"])
    in_comm = t_comm[pt["track"][ok]] == world.pl["comm"][pt["pl"][ok]]
    af = world.af
    null_share = (int(af["null"].sum()) + int(af["extra_null"].sum())) / (n_t + af["n_extra"])
    return {
        "albums_per_artist": round(len(al["id"]) / n_art, 4),
        "tracks_per_artist": round(n_t / n_art, 4),
        "credits_per_track": round(len(world.ta_track) / n_t, 4),
        "genre_coverage": round(len(np.unique(world.ag_artist)) / n_art, 4),
        "n_genres": int(len(np.unique(world.ag_genre))),
        "track_pop0_share": round(float((tr["pop"] == 0).mean()), 4),
        "artist_pop0_share": round(float((world.a_pop == 0).mean()), 4),
        "null_audio_share": round(null_share, 4),
        "collab_track_share": round(float((credits > 1).mean()), 4),
        "n_playlists": len(world.pl["id"]),
        "playlist_in_community_share": round(float(in_comm.mean()), 4),
    }


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------

def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def generate_dump(out_dir: str | os.PathLike, *, n_artists: int = 100_000, seed: int = 0,
                  variant: SchemaVariant = SchemaVariant.SHIPPED, force: bool = False,
                  progress: bool = True) -> dict:
    """Write a synthetic Anna's Archive-style dump into ``out_dir`` and return its statistics.

    Writes ``spotify_clean.sqlite3``, ``spotify_clean_audio_features.sqlite3``, ``spotify_clean_playlists.sqlite3``,
    ``ground_truth.parquet`` (artist -> community, genre family, core genres) and ``synth_manifest.json``. The
    directory is built next to ``out_dir`` and renamed into place only when complete.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output directory; must not exist unless ``force``.
    n_artists : int
        Number of artists (>= 50). About 3.8 albums and 16.6 tracks per artist follow.
    seed : int
        Seed (>= 0). The same ``(n_artists, seed, variant)`` gives byte-identical SQLite files.
    variant : SchemaVariant or str
        ``tracks``/``albums`` layout: ``"shipped"`` (as readers of the real file describe it) or ``"blog"``.
    force : bool
        Replace an existing ``out_dir``.
    progress : bool
        Show a progress bar over the generation phases.

    Returns
    -------
    dict
        The statistics also stored under ``"stats"`` in ``synth_manifest.json``.

    Raises
    ------
    TypeError, ValueError
        For a bad argument. :class:`recsys.errors.OutputExistsError` if ``out_dir`` exists and not ``force``.
    """
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a str or os.PathLike, got {type(out_dir).__name__} {out_dir!r}")
    n_artists = _check_int("n_artists", n_artists, _MIN_ARTISTS)
    seed = _check_int("seed", seed, 0)
    try:
        variant = SchemaVariant(variant)
    except ValueError:
        raise ValueError(f"variant must be one of {[x.value for x in SchemaVariant]}, got {variant!r}") from None

    t0 = time.perf_counter()
    out = Path(out_dir)
    # Independent streams per phase: changing one phase does not shift the draws of the others.
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(9)]
    world = _World(n_artists=n_artists)
    counts: dict[str, int] = {}

    def vocabulary(_tmp: Path) -> None:
        world.vocab = _build_vocab(rngs[0], max(20_000, 2 * n_artists))

    # The lambdas look the phase functions up when called, so a test can replace one (e.g. to interrupt).
    phases: list[tuple[str, Callable[[Path], dict | None]]] = [
        ("vocabulary", vocabulary),
        ("communities", lambda _t: _gen_communities(rngs[1], world)),
        ("artists", lambda _t: _gen_artists(rngs[2], world)),
        ("albums and tracks", lambda _t: _gen_releases(rngs[3], world)),
        ("write " + SourceFile.MAIN.value,
         lambda t: _write_main(t / SourceFile.MAIN.value, world, variant, rngs[6])),
        ("audio features", lambda _t: _gen_audio_features(rngs[4], world)),
        ("write " + SourceFile.AUDIO_FEATURES.value,
         lambda t: _write_audio_features(t / SourceFile.AUDIO_FEATURES.value, world)),
        ("playlists", lambda _t: _gen_playlists(rngs[5], world)),
        ("write " + SourceFile.PLAYLISTS.value, lambda t: _write_playlists(t / SourceFile.PLAYLISTS.value, world)),
        ("write " + GROUND_TRUTH, lambda t: _write_ground_truth(t / GROUND_TRUTH, world)),
    ]
    with atomic_dir(out, force=force, what="demo dump") as tmp, \
            tqdm(total=len(phases), desc="demo dump", unit="phase", disable=not progress) as bar:
        for label, fn in phases:
            bar.set_postfix_str(label)
            result = fn(tmp)
            if isinstance(result, dict):
                counts.update(result)
            bar.update(1)
        stats = _stats(world)
        stats["seconds"] = round(time.perf_counter() - t0, 2)
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        manifest = {
            "generator": GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "n_artists": n_artists,
            "variant": variant.value,
            "tables": {k: counts[k] for k in sorted(counts)},
            "files": files,
            "stats": stats,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats
