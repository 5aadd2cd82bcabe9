"""The clinical allow-list: words and spans the PHI scrubber must never replace, whatever a recogniser says.

A general-purpose NER model reads "Graves disease" as a person, "Parkinson" as a surname, "Lasix" as a place
and "3 hours" as a date. Clinical text is full of such words, so every candidate span from the model (and the
untitled name and place rules) passes through this list. Classes, not examples:
- eponyms: every word of the verifier's eponym table (schemas/matching/eponyms.py) plus eponymous signs,
  scores and tests, and any capitalised word followed by a possessive or a clinical noun ("Bell's palsy",
  "Murphy sign", "Wells score");
- drugs: a list of common generic and brand names plus the generic-name stems of whole drug classes (-pril,
  -olol, -sartan, -statin, -mab, -tinib, -cillin, -floxacin ...), which is how new drugs are named;
- units, doses, vital signs, scores and durations: any span made of numbers, units, score names and time
  words ("3 hours", "1 and 5 minutes", "GCS 14/15", "BP 120/80", "5 mg", "SpO2 94%");
- capitalised medical terms a model takes for a person or a place (`medical_term`: "Intravenous calcium
  gluconate", "Lumbar puncture", "Decreased Heart", "Dantrolene"): every word is medicine by the ICD-10-CM
  vocabulary, a drug or word-building shape, and not every word is a person's name (Faker's English lists).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from synth.quality.phi_vocab import _WORD_RX, _all_person_names, _faker_names, _wide_medical_words

_SIGNS_AND_SCORES = {
    "graves", "parkinson", "crohn", "cushing", "addison", "hashimoto", "alzheimer", "huntington", "wilson",
    "hodgkin", "kaposi", "kawasaki", "raynaud", "barrett", "wernicke", "korsakoff", "guillain", "barre",
    "down", "turner", "marfan", "bell", "babinski", "kernig", "brudzinski", "murphy", "mcburney", "trousseau",
    "chvostek", "romberg", "virchow", "sjogren", "meniere", "paget", "reiter", "tourette", "whipple",
    "takotsubo", "epstein", "barr", "glasgow", "wells", "ottawa", "apgar", "gleason", "streptococcus", "lyme",
    "tinel", "phalen", "homan", "homans", "rovsing", "psoas", "cullen", "grey", "kussmaul",
    "cheyne", "stokes", "beck", "osler", "janeway", "roth", "argyll", "robertson", "horner", "holmes", "adie",
    "duchenne", "becker", "tanner", "child", "pugh", "meld", "curb", "centor", "geneva", "ranson",
    "blatchford", "rockall", "nihss", "qsofa", "sofa", "apache", "killip", "nyha", "gold", "mallampati",
    "fontaine", "rutherford", "breslow", "clark", "ann", "arbor", "dukes", "salter", "harris", "garden",
    "weber", "lauge", "hansen", "colles", "smith", "barton", "monteggia", "galeazzi", "jones", "boutonniere",
    "heberden", "bouchard", "dupuytren", "peyronie", "wolff", "white", "brugada", "mobitz",
    "wenckebach", "fallot", "ebstein", "eisenmenger", "kartagener", "zollinger", "ellison", "budd", "chiari",
    "mallory", "weiss", "boerhaave", "hirschsprung", "meckel", "wilms", "ewing", "burkitt", "hurthle",
    "reed", "sternberg", "auer", "howell", "jolly", "heinz", "koplik", "forchheimer", "nikolsky", "auspitz",
    "koebner", "darier", "gottron", "lhermitte", "uhthoff", "todd", "jacksonian", "bells", "erb", "klumpke",
    "pancoast", "lambert", "eaton", "miller", "fisher", "creutzfeldt", "jakob", "pick",
    "lewy", "binswanger", "friedreich", "charcot", "marie", "tooth", "bence", "waldenstrom", "kahler",
    "hartnup", "gaucher", "niemann", "tay", "sachs", "fabry", "pompe", "hunter", "hurler", "von", "willebrand",
    "bernard", "soulier", "glanzmann", "wiskott", "aldrich", "digeorge", "bruton", "chediak", "higashi",
    "addisonian", "cushingoid", "parkinsonian", "gram", "ziehl", "neelsen", "giemsa", "wright", "coombs",
    "mantoux", "schilling", "tensilon", "valsalva", "trendelenburg", "heimlich", "epley", "dix", "hallpike",
    "allen", "lachman", "mcmurray", "thompson", "finkelstein", "spurling", "lasegue", "schober", "patrick",
    "foley", "swan", "ganz", "hickman", "seldinger", "kocher", "pfannenstiel", "nissen", "roux",
    "billroth", "hartmann", "bier", "ludwig", "vincent", "quincke", "bowen", "merkel", "spitz", "doppler",
}  # fmt: skip
_DRUGS = {
    "aspirin", "paracetamol", "acetaminophen", "ibuprofen", "naproxen", "diclofenac", "morphine", "codeine",
    "tramadol", "oxycodone", "fentanyl", "heparin", "warfarin", "apixaban", "rivaroxaban", "dabigatran",
    "edoxaban", "clopidogrel", "ticagrelor", "metformin", "insulin", "gliclazide", "glipizide", "sitagliptin",
    "amoxicillin", "augmentin", "doxycycline", "azithromycin", "clarithromycin", "ceftriaxone", "cefalexin",
    "vancomycin", "gentamicin", "metronidazole", "nitrofurantoin", "trimethoprim", "ciprofloxacin",
    "levothyroxine", "carbimazole", "methimazole", "propylthiouracil", "prednisolone", "prednisone",
    "hydrocortisone", "dexamethasone", "salbutamol", "albuterol", "ipratropium", "tiotropium", "montelukast",
    "furosemide", "lasix", "bumetanide", "spironolactone", "bendroflumethiazide", "hydrochlorothiazide",
    "amlodipine", "nifedipine", "diltiazem", "verapamil", "digoxin", "amiodarone", "adenosine", "atropine",
    "adrenaline", "epinephrine", "noradrenaline", "norepinephrine", "dopamine", "dobutamine", "lidocaine",
    "omeprazole", "lansoprazole", "pantoprazole", "ranitidine", "ondansetron", "metoclopramide", "lactulose",
    "senna", "loperamide", "sertraline", "fluoxetine", "citalopram", "mirtazapine", "amitriptyline",
    "diazepam", "lorazepam", "midazolam", "haloperidol", "olanzapine", "quetiapine", "risperidone", "lithium",
    "levetiracetam", "valproate", "lamotrigine", "carbamazepine", "phenytoin", "gabapentin", "pregabalin",
    "allopurinol", "colchicine", "methotrexate", "hydroxychloroquine", "tylenol", "advil", "motrin",
    "ventolin", "lipitor", "zocor", "eliquis", "xarelto", "plavix", "keppra", "synthroid", "coumadin",
    "zofran", "prozac", "zoloft", "xanax", "valium", "ativan", "naloxone", "narcan", "glucagon", "thiamine",
    "folate", "ferrous", "tamsulosin", "finasteride", "sildenafil", "oxytocin", "magnesium", "potassium",
    "calcium", "sodium", "bicarbonate", "saline", "dextrose", "alteplase", "tenecteplase", "streptokinase",
    "isoniazid", "rifampicin", "rifampin", "pyrazinamide", "ethambutol", "acyclovir", "aciclovir",
    "oseltamivir", "tamiflu", "penicillin", "flucloxacillin", "co-amoxiclav", "tazocin", "meropenem",
    # brands that carry no generic stem
    "jardiance", "farxiga", "forxiga", "ozempic", "wegovy", "mounjaro", "trulicity", "victoza", "januvia",
    "paxlovid", "pabrinex", "norvasc", "zestril", "crestor", "nexium", "prilosec", "glucophage", "lantus",
    "humalog", "novorapid", "levemir", "tresiba", "entresto", "brilinta", "pradaxa", "symbicort", "seretide",
    "spiriva", "flovent", "advair", "singulair", "humira", "enbrel", "remicade", "keytruda", "herceptin",
    "avastin", "gleevec", "lyrica", "neurontin", "tegretol", "lamictal", "depakote", "epilim", "seroquel",
    "zyprexa", "abilify", "risperdal", "wellbutrin", "effexor", "cymbalta", "lexapro", "celexa", "ambien",
    "adderall", "ritalin", "suboxone", "subutex", "oxycontin", "percocet", "vicodin", "dilaudid", "toradol",
    "voltaren", "celebrex", "medrol", "decadron", "solumedrol", "epipen", "benadryl", "piriton", "zyrtec",
    "claritin", "flonase", "gaviscon", "buscopan", "imodium", "dioralyte", "kayexalate", "calcichew",
    "adcal", "movicol", "laxido", "fybogel", "canesten", "daktarin", "fucidin", "bactroban", "betnovate",
    "dermovate", "eumovate", "diprobase", "oilatum", "ensure", "fortisip", "covid", "covid-19", "sars-cov-2",
}  # fmt: skip
_DRUG_STEMS = re.compile(
    r"(?:pril|olol|alol|sartan|statin|mab|tinib|cillin|floxacin|mycin|cycline|azole|conazole|dipine|prazole|"
    r"tidine|gliptin|gliflozin|glutide|parin|semide|thiazide|afil|vir|navir|setron|triptan|zepam|zolam|"
    r"oxetine|raline|triptyline|apine|idone|adone|profen|oxacin|isone|olone|lukast|terol|tropium|plase|xaban|"
    r"gatran|grel|formin|caine|curium|onium|barbital|coxib|dronate|lutamide|relin|tecan|taxel|platin|"
    r"rubicin|trexate|umab|ximab|zumab)$"
)
_UNIT_OR_TIME = re.compile(
    r"^(?:\d+(?:[.,]\d+)?(?:[-/–]\d+(?:[.,]\d+)?)?|and|to|or|a|an|few|several|half|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|twelve|twenty|thirty|over|under|about|around|last|past|next|every|per|each|the|"
    r"mg|g|mcg|µg|ug|kg|ml|mL|l|L|mmol|µmol|mmHg|bpm|%|iu|IU|units?|mEq|mg/dl|mg/dL|mmol/l|mmol/L|°C|°F|"
    r"(?:sec(?:ond)?|min(?:ute)?|hour|hr|h|day|night|week|wk|month|year|yr|decade|time|dose|tablet|puff|"
    r"drop|cycle|episode|session|breath|beat)s?|daily|bd|tds|qds|od|prn|stat|nocte|weekly|monthly|"
    r"ago|old|later|earlier|before|after|since|for|of|in|within|hourly|overnight|today|yesterday|tonight|"
    r"morning|evening|afternoon|midnight|noon|am|pm|a\.m\.|p\.m\.|GCS|BP|HR|RR|SpO2|sats|temp|BMI|"
    r"NEWS2?|CURB-?65|CHA2DS2-?VASc|HbA1c|INR|eGFR|score|grade|stage|class|type|level)$",
    re.IGNORECASE,
)

# States, countries and regions: Safe Harbor keeps geography at state level and above.
NOT_A_PLACE = re.compile(
    r"^(?:the\s+)?(?:Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    r"Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|"
    r"Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New\s+Hampshire|New\s+Jersey|New\s+Mexico|"
    r"New\s+York\s+State|North\s+Carolina|North\s+Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode\s+Island|"
    r"South\s+Carolina|South\s+Dakota|Tennessee|Texas|Utah|Vermont|Virginia|West\s+Virginia|Wisconsin|"
    r"Wyoming|England|Scotland|Wales|Northern\s+Ireland|Ireland|UK|U\.K\.|US|U\.S\.|USA|United\s+States|"
    r"United\s+Kingdom|Britain|America|Europe|Africa|Asia|[A-Z][a-z]+ia|Canada|China|India|Japan|Mexico|"
    r"France|Germany|Spain|Italy|Brazil|Pakistan|Nigeria|Poland|Portugal|Philippines|Ghana|Kenya|Egypt|Iran|"
    r"Iraq|Sudan|Uganda|Peru|Chile|Cuba|Haiti|Jamaica|Thailand|Vietnam|Nepal|Bangladesh|Turkey|Greece|Israel|"
    r"Sweden|Norway|Denmark|Finland|Russia|Ukraine|Romania|Yemen|Congo|Mali|Niger|Chad|Sri\s+Lanka|"
    r"(?:North|South|East|West|Central|Latin|Southeast|Southern|Northern|Eastern|Western|Sub-Saharan|Middle)"
    r"(?:\s+\w+)*|ICU|ED|ER|A&E|ward)$"
)


def fold(word: str) -> str:
    """Lower case, accents folded, possessive and punctuation stripped: the form the lists are keyed by."""
    w = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
    w = re.sub(r"['’]s?$", "", w)
    return w.strip(".,;:()[]\"'")


@lru_cache(maxsize=1)
def _eponym_words() -> frozenset[str]:
    """Every word of the verifier's eponym keys that is a name (the descriptive words are lower-case medicine)."""
    from schemas.matching.eponyms import EPONYMS

    words = {w for key in EPONYMS for w in key.split() if len(w) > 2}
    return frozenset(words | _SIGNS_AND_SCORES)


def is_drug(word: str) -> bool:
    w = fold(word)
    return w in _DRUGS or (len(w) > 5 and bool(_DRUG_STEMS.search(w)))


def is_eponym(word: str) -> bool:
    return fold(word) in _eponym_words()


def is_clinical_word(word: str) -> bool:
    """A word that is medicine (a drug, a unit or dose, a score), never part of an identifier on its own."""
    return is_drug(word) or bool(_UNIT_OR_TIME.match(fold(word) or word))


_CLINICAL_TAIL = re.compile(
    r"^(?:['’]s?)?\s+(?:disease|syndrome|sign|test|point|palsy|phenomenon|node|tear|reflex|score|scale|"
    r"criteria|rule|triad|ulcer|lymphoma|sarcoma|encephalopathy|thyroiditis|oesophagus|esophagus|manoeuvre|"
    r"maneuver|classification|grade|stage|tumou?r|fracture|contracture|nodes?|spots?|bodies|cells?|"
    r"granulomatosis|purpura|disorder|anomaly|malformation|procedure|operation|catheter|line|stain|"
    r"ataxia|dystrophy|arteritis|aneurysm|hernia|cyst|anaemia|anemia|deformity|pattern|rhythm|block|"
    r"phenomenon|infection|virus|fever|tetralogy|chorea|dementia|lymphadenopathy|sclerosis|hypothesis|"
    r"wort|formula|solution|breathing|respirations?|encephalitis|equation|method|technique|needle|tube|forceps|"
    r"incision|approach|repair|pathway|protocol|regimen|questionnaire|index|lens|chart|grid|mosquito(?:es)?|"
    r"pouch|canal|duct|ligament|loop|gland|triangle|sphincter|ampulla|plexus|ganglion|foramen|fossa)\b",
    re.IGNORECASE,
)


def clinical_person(text: str, start: int, end: int) -> bool:
    """True when a span a model took for a person is medicine: eponym or drug words, or a clinical noun after
    it. A real surname that is also an eponym ("Mr Wilson") keeps its title, so titled names never come here."""
    words = re.findall(r"[^\s,;()\-–]+", text[start:end])
    if not words:
        return True
    if all(is_eponym(w) or is_drug(w) or is_clinical_word(w) for w in words):
        return True
    if any(is_drug(w) or is_clinical_word(w) for w in words):
        return True
    # "Legg-Calve-Perthes disease": the clinical noun comes after the rest of a hyphenated eponym
    return bool(_CLINICAL_TAIL.match(re.sub(r"^(?:-[A-Z][\w'’]*)+", "", text[end:])))


def clinical_span(text: str) -> bool:
    """True when a candidate span is only numbers, units, time words and score names ("3 hours", "GCS 14")."""
    tokens = re.findall(r"[^\s,;()]+", text)
    return bool(tokens) and all(_UNIT_OR_TIME.match(t) or is_drug(t) for t in tokens)


# ------------------------------------------------------------------------ capitalised medical terms
# A model reads any capitalised word it does not know as a person or a place: "So the best answer is
# Intravenous calcium gluconate", "typical of Plasma aldosterone-to-renin ratio", "not Lumbar puncture", a
# differential entry "Decreased Heart", "Dantrolene". A model candidate is dropped when every word of it is
# medicine: a word of the ICD-10-CM descriptions (simple-icd-10-cm, offline) or of the verifier's tables, or a
# word with the shape of a generic drug name (INN endings) that is not a person's first or last name. A name
# made only of words that are also medicine and also names ("Gene Young") keeps its evidence and stays.
_INN_SHAPE = re.compile(r"(?:ine|ene|ide|ate|one|ole|ium|ast|ol|yl|ox)$|.{3,}(?:in|il)$")
# The word-building of medicine: inflammations, tumours, conditions, procedures and tests, adjectives of
# organs and actions ("Myopericarditis", "Choriocarcinoma", "Angiogram", "Microscopy", "Anticholinergic").
_MEDICAL_SHAPE = re.compile(
    r"(?:itis|oma|omas|osis|oses|iasis|a?emia|pathy|ectomy|otomy|ostomy|plasty|scopy|graphy|gram|algia|uria|"
    r"penia|cytosis|ergic|genic|lytic|trophy|trophic|plasia|megaly|rrhoea|rrhea|lysis|ase|ases|ular|"
    r"vagal|cardial|thoracic|abdominal|cranial|renal|hepatic|neural|ocular|osa|ium|ae|cocci|coccus|bacter)$"
)
_ORGANISM_CONTEXT = re.compile(
    r"(?:\b(?:serovars?|serotypes?|serogroups?|subsp\.|spp?\.|var\.|strains?|genus|species))\s+$",
    re.IGNORECASE,
)
# Anatomy named after a person: "pouch of Douglas", "circle of Willis", "loop of Henle", "sphincter of Oddi".
_ANATOMY_OF = re.compile(
    r"\b(?:pouch|circle|loop|ampulla|sphincter|islets?|canal|ligament|space|crypts?|triangle|foramen|duct|"
    r"tubercle|angle|line|organ|nucleus|column|membrane|capsule|bundle)\s+of\s+$",
    re.IGNORECASE,
)
_LETTER_CONTEXT = re.compile(
    r"\b(?:factor|type|grade|stage|class|phase|lead|level|subtype)\s+$", re.IGNORECASE
)


@lru_cache(maxsize=1)
def _medical_words() -> frozenset[str]:
    """The ICD-10-CM description words and the verifier's table words, lower case (about 2 s, once)."""
    import warnings

    words: set[str] = set(_eponym_words()) | _DRUGS
    try:
        from schemas.matching.vocab import _table_words

        words |= _table_words()
    except ImportError:  # pragma: no cover - the schemas package ships with the engine
        pass
    try:
        with warnings.catch_warnings():  # it reads its data with a deprecated importlib.resources call
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm as icd

        for code in icd.get_all_codes(True):
            words.update(_WORD_RX.findall(icd.get_description(code).lower()))
    except ImportError:  # without it only the tables and drug shapes speak: fewer terms recognised
        pass
    return frozenset(w for w in words if len(w) > 1)


@lru_cache(maxsize=1)
def person_names() -> frozenset[str]:
    """First and last names of Faker's English-speaking locales (about 14,000), lower case. Empty without
    Faker: drug shapes then count as medicine whatever the word, so the scrubber is told apart in the tests."""
    return frozenset(_faker_names(lambda mod: mod.startswith("en")))


def drug_shaped(word: str) -> bool:
    """A long word with a generic-drug ending that no person is called ("Dantrolene", "Physostigmine")."""
    w = fold(word)
    return len(w) >= 8 and w.isalpha() and bool(_INN_SHAPE.search(w)) and w not in person_names()


def _forms(w: str) -> set[str]:
    """The word, its singular and its American spelling: the ICD-10-CM vocabulary is American and singular."""
    forms = {w}
    for f in list(forms):
        forms |= {re.sub(r"ies$", "y", f), re.sub(r"(?<=[sxzh])es$", "", f), re.sub(r"(?<!s)s$", "", f)}
    for f in list(forms):
        forms.add(f.replace("ae", "e").replace("oe", "e").replace("our", "or").replace("isation", "ization"))
    return forms


def _medical_part(p: str, wide: bool = True) -> bool:
    if bool(_UNIT_OR_TIME.match(p)) or is_drug(p) or drug_shaped(p):
        return True
    if any(f in _medical_words() or (wide and f in _wide_medical_words()) for f in _forms(p)):
        return True
    if len(p) >= 7 and bool(_MEDICAL_SHAPE.search(p)) and p not in person_names():
        return True
    return _misspelt_medical(p)


@lru_cache(maxsize=1)
def _long_medical_words() -> tuple[str, ...]:
    return tuple(sorted(w for w in _medical_words() if len(w) >= 7))


@lru_cache(maxsize=8192)
def _misspelt_medical(p: str) -> bool:
    """One edit from a long medical word ("Pancreatetis", "Angiogrpahy"): teachers and users misspell terms."""
    if len(p) < 7 or p in person_names():
        return False
    from rapidfuzz.distance import DamerauLevenshtein
    from rapidfuzz.process import extractOne

    best = extractOne(p, _long_medical_words(), scorer=DamerauLevenshtein.distance, score_cutoff=1)
    return best is not None


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Everyday English words (wordfreq, Zipf ≥ 3.5) that are nobody's name in Faker's lists: "Swallow",
    "Thick", "Flare". Alone they are no evidence of medicine, only next to a medical word."""
    try:
        import wordfreq
    except ImportError:
        return frozenset()
    names = person_names()
    words = wordfreq.top_n_list("en", 40_000)
    return frozenset(
        w for w in words if w.isalpha() and w not in names and wordfreq.zipf_frequency(w, "en") >= 3.5
    )


def medical_word(word: str, wide: bool = True) -> bool:
    """Every part of the word (split at hyphens and slashes) is medicine (`wide`: by the wide vocabulary too)."""
    parts = [p for p in re.split(r"[-/]", fold(word)) if p]
    return bool(parts) and all(_medical_part(p, wide) for p in parts)


# Family words a patient calls people by: "Mum and Dad say I'm limping" names nobody.
KINSHIP = {
    "mum", "mom", "mummy", "mommy", "mam", "ma", "mama", "dad", "daddy", "papa", "pa", "nan", "nana", "gran",
    "granny", "grandma", "grandpa", "grandad", "granddad", "auntie", "aunty", "uncle", "sis", "bro",
}  # fmt: skip


# Words that put a person next to them ("cardiologist Iris", "patient Grace"): never medical context.
_PERSON_NOUN = re.compile(
    r"^(?:dr|mr|mrs|ms|mx|miss|prof|sir|dame|lady|lord|nurse|doctor|patient|sister|matron|midwife|consultant|"
    r"registrar|resident|intern|surgeon|[a-z]+ist|[a-z]+ician|[a-z]+ologist|wife|husband|son|daughter|"
    r"mother|father|brother|partner|friend|carer|caregiver|neighbour|neighbor|"
    r"[a-z]+ology|[a-z]+iatry|[a-z]+ics|ward|clinic|unit|team|department|service|surgery|practice|on|call)$"
)  # and the services a name follows in a header ("Cardiology Iris Jones")
# A Latin species epithet ("albicans", "Epidermidis", "aureus", "pneumoniae"), the second word of an organism.
_EPITHET_SHAPE = re.compile(r"(?:is|us|um|ans|ens|ae|ii|ici|ica|icum|oides|alis|aris|osa|ata|ense)$")


def _technical(word: str, everyday: bool = False) -> bool:
    """A word that is medicine and nothing else: nobody's name, no person or service noun, and (unless
    `everyday`) not everyday English either."""
    w = fold(word)
    return (
        len(w) >= 4
        and w.isalpha()
        and (everyday or w not in _common_words())
        and w not in person_names()
        and w not in _all_person_names()
        and not _PERSON_NOUN.match(w)
        and not _UNIT_OR_TIME.match(w)  # "about", "after", "every": function words the unit pattern allows
        and medical_word(w)
    )


def _binomial(text: str, start: int, end: int, words: list[str]) -> bool:
    """A genus and its species epithet ("Candida albicans", "Staphylococcus Epidermidis"): the span is one
    capitalised word followed by an epithet, or the epithet after a capitalised genus. The epithet must be a
    word of the medical vocabularies with a Latin ending and nobody's name ("Candida Harris" stays a name)."""
    if len(words) == 2:
        return _EPITHET_SHAPE.search(fold(words[1])) is not None and _technical(words[1])
    if len(words) != 1:
        return False
    nxt = re.match(r"\s+([A-Za-z][a-z]{3,})\b", text[end:])
    if nxt and _EPITHET_SHAPE.search(fold(nxt.group(1))) and _technical(nxt.group(1)):
        return True
    prev = re.search(r"\b([A-Z][a-z]{3,})\s+$", text[:start])
    return bool(
        prev
        and _EPITHET_SHAPE.search(fold(words[0]))
        and _technical(words[0])
        and medical_word(prev.group(1))
    )


def _medical_context(text: str, start: int, end: int, everyday: bool = False) -> bool:
    """A span of medical words that are also first or last names ("Alpha", "Iris", "Kidney Stone", "Date",
    "Glass") is medicine only inside medicine: glued by a hyphen to a medical word ("Alpha-thalassaemia"), or
    next to a technical medical word in the same phrase, with nothing but a space or "of" between ("Bilateral
    Kidney Stone", "Cysts Of Iris", "Iris coloboma"). A person noun there ("cardiologist Iris") is no such
    context, and a name between words of no medical kind stays a name (if in doubt, scrub)."""
    glued_after = re.match(r"-([A-Za-z][a-z]+)\b", text[end:])
    glued_before = re.search(r"\b([A-Za-z][a-z]+)-$", text[:start])
    if (glued_after and _technical(glued_after.group(1))) or (
        glued_before and _technical(glued_before.group(1))
    ):
        return True
    # in a title-cased phrase ("Bilateral Kidney Stone") a capitalised neighbour may be an everyday word of
    # medicine; a lower-case one must be technical ("Iris coloboma", not "Iris reported")
    nxt = re.match(r"(?:\s+(?i:of))?\s+([A-Za-z][a-z]+)\b", text[end:])
    prev = re.search(r"\b([A-Za-z][a-z]+)(?:\s+(?i:of))?\s+$", text[:start])
    if (
        nxt
        and not nxt.group(1).endswith(("ed", "ing"))
        and _technical(nxt.group(1), everyday or nxt.group(1)[0].isupper())
    ):
        return True
    return bool(prev and _technical(prev.group(1), everyday or prev.group(1)[0].isupper()))


def medical_term(text: str, start: int, end: int) -> bool:
    """True when a span a model took for a person or a place is a capitalised medical term (or a family word,
    or a piece of a word: "Ig" of "IgA")."""
    words = re.findall(r"[^\s,;()]+", text[start:end])
    if not words or (end < len(text) and text[end].isalnum()):
        return True
    if all(fold(w) in KINSHIP for w in words):
        return True
    if _ORGANISM_CONTEXT.search(text[max(0, start - 24) : start]) or _binomial(text, start, end, words):
        return True  # "Salmonella enterica serovar Enteritidis", "Candida albicans": Latin, not a person
    if len(words) == 1 and _ANATOMY_OF.search(text[max(0, start - 16) : start]):
        return True  # "pouch of Douglas": an eponym of anatomy
    letter = _LETTER_CONTEXT.search(text[max(0, start - 12) : start]) and len(words[0]) <= 3
    if letter and all(medical_word(w) for w in words[1:]):
        return True  # "factor Xa", "type IIa", "grade Ib", "factor Xa Inhibition"
    if _CLINICAL_TAIL.match(re.sub(r"^-[A-Z][\w']+", "", text[end:])):
        return True  # "Osgood-Schlatter disease": the model splits a hyphenated eponym at the hyphen
    medical = [medical_word(w) for w in words]
    if any(medical) and all(m or fold(w) in _common_words() for m, w in zip(medical, words, strict=True)):
        medical = [True]  # "Pernicious Anemia", "Barium Swallow": medicine with everyday words
    if not all(medical):
        # one capitalised word heading a lower-case medical noun phrase ("Detrusor underactivity",
        # "Fluorescein angiography"): a name is followed by a verb or a name, not by a disease or a test
        nxt = re.match(r"\s+([a-z][a-z-]{3,})\b", text[end:])
        if len(words) > 1 or not nxt or nxt.group(1).endswith(("ed", "ing")):
            return False
        # the next word must be technical medicine, not an everyday word ICD-10-CM also uses ("works")
        if not medical_word(nxt.group(1)) or fold(nxt.group(1)) in _common_words():
            return False
        return fold(words[0]) not in person_names()
    names = person_names()
    if all(fold(w) in names for w in words):
        return _medical_context(text, start, end)
    if len(words) == 1 and not medical_word(words[0], wide=False) and not _no_surname(words[0]):
        # one word that only the wide vocabulary knows: it also holds eponyms that are surnames no name list
        # has ("Richter", "Somogyi"), so it counts as medicine only next to another medical word ("Slit lamp")
        return _medical_context(text, start, end, everyday=True)
    return True


# Shapes of English common nouns and adjectives that surnames do not take: derivations ("Hydration",
# "Fibrinogen", "Hypokalaemic") and plurals ("Earlobes", "Shins").
_NOUN_SHAPE = re.compile(
    r"(?:ation|ition|ution|ment|ness|ity|ism|ous|ive|ure|ency|ance|ence|aemic|emic|otic|etic|ytic|ical|ogen|"
    r"igen|[^s]s)$"
)


def _no_surname(word: str) -> bool:
    """An everyday English word ("Thick", "Thin") or a word with a common-noun shape of at least 6 letters."""
    w = fold(word)
    if w in _common_words():
        return True
    if len(w) < (5 if w.endswith("s") else 6) or not _NOUN_SHAPE.search(w):
        return False
    # a plural counts only when its singular is medicine too ("shins" → "shin")
    return not w.endswith("s") or medical_word(re.sub(r"(?:e?s)$", "", w)) or medical_word(w[:-1])
