"""Echelon's pydantic model of the Battery Pass data model v1.2.0 (seven sections).

The field names are the Battery Pass's normative JSON names, spelled as the standard spells them,
upstream typos included (``warrentyPeriod``, ``batteryTechicalProperties``, ``remainingEnergyalue``,
``thirdPartyAussurances``, ``supplyChainIndicies``). Required members, enumerations, numeric bounds
and string patterns are those of the section schemas; ``tests/passport/test_model.py`` checks every
object of every section against the schemas in ``../shared/standards/batterypass-1.2.0`` (same
property names, same required members, same enumerations and patterns), so a passport this model
accepts is one the schemas accept.

Units are those of the SAMM aspect models (``*-ld.json``): capacity A·h, energy kWh, power kW,
resistance Ω, voltage V, fades, shares and efficiencies %, self-discharge % per month, time at
extreme temperatures minutes, battery mass kg, material mass g, carbon footprint kg CO2e per kWh
(absolute: kg CO2e), expected lifetime years, warranty as an ``xsd:gMonth`` (``--MM``).

Source: Battery Pass Data Model v1.2.0, © Circulor GmbH on behalf of the Battery Pass Consortium,
https://github.com/batterypass/BatteryPassDataModel (commit 4c96de2, 2025-10-24), CC BY 4.0;
DIN DKE SPEC 99100:2025-02. As of 2026-12-07.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

TIMESTAMP_PATTERN = (
    r"-?([1-9][0-9]{3,}|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?|(24:00:00(\.0+)?))"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
)
"""``xsd:dateTime`` as the schemas' ``Timestamp`` (unanchored, as in JSON Schema)."""
PASSPORT_ID_PATTERN = r"^urn:[a-z0-9]+:[a-z0-9]+$"
CAS_PATTERN = r"^\d{2,7}-\d{2}-\d{1}$"
WARRANTY_PATTERN = r"--(0[1-9]|1[0-2])(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
SUPPLIER_EMAIL_PATTERN = r"^[\w.-]+@[\w.-]+\.[A-Za-z]{2,}$"
CONTACT_EMAIL_PATTERN = r"^[w.-]+@[w.-]+.[A-Za-z]{2,}$"
"""GeneralProductInformation's e-mail pattern, verbatim: upstream lost the backslashes, so it
accepts only the letter ``w``, dots and dashes before and after the ``@`` (an upstream defect; the
attribute is optional — leave it out and give ``webAddress``)."""
URI_PATTERN = r'^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]+$'
"""An absolute URI (scheme ``:`` then RFC 3986 characters only), the schemas' ``format: uri``."""
DATE_TIME_PATTERN = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
"""RFC 3339 ``date-time`` (with its offset), the schemas' ``format: date-time``."""


@lru_cache(maxsize=1)
def _format_checker() -> Any:
    import jsonschema  # the schemas' own checkers (rfc3986-validator, rfc3339-validator)

    return jsonschema.FormatChecker()


def _conforms(kind: str, what: str) -> AfterValidator:
    """The JSON Schema ``format`` check, as the standard's validator makes it."""

    def check(value: str) -> str:
        if not _format_checker().conforms(value, kind):
            raise ValueError(f"not {what}")
        return value

    return AfterValidator(check)


Timestamp = Annotated[str, StringConstraints(pattern=TIMESTAMP_PATTERN)]
Uri = Annotated[
    str, StringConstraints(pattern=URI_PATTERN), _conforms("uri", "an RFC 3986 absolute URI")
]
DateTime = Annotated[
    str,
    StringConstraints(pattern=DATE_TIME_PATTERN),
    _conforms("date-time", "an RFC 3339 date-time with its offset (e.g. 2018-11-01T00:00:00Z)"),
]
Cas = Annotated[str, StringConstraints(pattern=CAS_PATTERN)]
Component = Literal["pack", "module", "cell"]


class Part(BaseModel):
    """An object of a Battery Pass section: unknown members, NaN and infinities refused, no
    coercion (a ``true`` is not a number, a date is not a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# --- shared entities -----------------------------------------------------------------------------


class PostalAddress(Part):
    """``PostalAddressEntity``."""

    addressCountry: str
    postalCode: str
    streetAddress: str


class ContactInformation(Part):
    """``ContactInformationEntity`` (manufacturer and operator information)."""

    contactName: str
    postalAddress: PostalAddress
    identifier: str
    emailAddress: Annotated[str, StringConstraints(pattern=CONTACT_EMAIL_PATTERN)] | None = None
    webAddress: Uri | None = None


class ComponentLocation(Part):
    """Where a material or substance sits (``componentName``, optional ``componentId``)."""

    componentName: str
    componentId: str | None = None


# --- GeneralProductInformation -------------------------------------------------------------------


class GeneralProductInformation(Part):
    """Identity and status (DIN DKE SPEC 99100 §6.1)."""

    productIdentifier: str
    batteryPassportIdentifier: Annotated[str, StringConstraints(pattern=PASSPORT_ID_PATTERN)]
    batteryCategory: Literal["lmt", "ev", "industrial", "stationary"]
    manufacturerInformation: ContactInformation
    manufacturingDate: DateTime
    batteryStatus: Literal["Original", "Repurposed", "Reused", "Remanufactured", "Waste"]
    batteryMass: float
    manufacturingPlace: PostalAddress
    operatorInformation: ContactInformation
    puttingIntoService: Timestamp
    warrentyPeriod: Annotated[str, StringConstraints(pattern=WARRANTY_PATTERN)]


# --- CarbonFootprint -----------------------------------------------------------------------------


class LifecycleStageFootprint(Part):
    """Carbon footprint of one life-cycle stage."""

    lifecycleStage: Literal["RawMaterialExtraction", "MainProduction", "Distribution", "Recycling"]
    carbonFootprint: float


class CarbonFootprintForBatteries(Part):
    """Carbon footprint (Art. 7; §6.3)."""

    batteryCarbonFootprint: float
    carbonFootprintPerLifecycleStage: list[LifecycleStageFootprint]
    carbonFootprintPerformanceClass: str
    carbonFootprintStudy: Uri
    absoluteCarbonFootprint: float | None = None


# --- Circularity ---------------------------------------------------------------------------------


class Document(Part):
    """A dismantling or removal document."""

    documentType: Literal[
        "BillOfMaterial", "Model3D", "DismantlingManual", "RemovalManual", "OtherManual", "Drawing"
    ]
    mimeType: str
    documentURL: Uri


class SparePart(Part):
    """``ComponentEntity``: a spare part."""

    partName: str
    partNumber: str


class SparePartSource(Part):
    """A supplier of spare parts."""

    nameOfSupplier: str
    addressOfSupplier: PostalAddress
    emailAddressOfSupplier: Annotated[str, StringConstraints(pattern=SUPPLIER_EMAIL_PATTERN)]
    supplierWebAddress: Uri
    components: list[SparePart]


class RecycledContent(Part):
    """Pre- and post-consumer recycled share of one material [%]."""

    preConsumerShare: float = Field(ge=0, le=100)
    recycledMaterial: Literal["Cobalt", "Nickel", "Lithium", "Lead"]
    postConsumerShare: float = Field(ge=0, le=100)


class SafetyMeasures(Part):
    """Safety instructions and extinguishing agents."""

    safetyInstructions: Uri
    extinguishingAgent: list[str]


class EndOfLifeInformation(Part):
    """End-user information on waste prevention and collection (Art. 74)."""

    wastePrevention: Uri
    separateCollection: Uri
    informationOnCollection: Uri


class Circularity(Part):
    """Circularity and resource efficiency (§6.6)."""

    dismantlingAndRemovalInformation: list[Document]
    sparePartSources: list[SparePartSource]
    recycledContent: list[RecycledContent]
    safetyMeasures: SafetyMeasures
    endOfLifeInformation: EndOfLifeInformation
    renewableContent: float


# --- MaterialComposition -------------------------------------------------------------------------


class BatteryChemistry(Part):
    """Chemistry: short and clear name."""

    shortName: str
    clearName: str


class BatteryMaterial(Part):
    """A material of the battery [g]."""

    batteryMaterialLocation: ComponentLocation
    batteryMaterialIdentifier: Cas
    batteryMaterialName: str
    batteryMaterialMass: float
    isCriticalRawMaterial: bool


class HazardousSubstance(Part):
    """A hazardous substance [concentration %]."""

    hazardousSubstanceClass: Literal[
        "AcuteToxicity", "SkinCorrosionOrIrritation", "EyeDamageOrIrritation"
    ]
    hazardousSubstanceName: str
    hazardousSubstanceConcentration: float
    hazardousSubstanceImpact: list[str]
    hazardousSubstanceLocation: ComponentLocation
    hazardousSubstanceIdentifier: Cas


class MaterialComposition(Part):
    """Battery materials and composition (§6.5)."""

    batteryChemistry: BatteryChemistry
    batteryMaterials: list[BatteryMaterial]
    hazardousSubstances: list[HazardousSubstance]


# --- Labels --------------------------------------------------------------------------------------


class Label(Part):
    """A label or symbol; ``labelingMeaning`` is text per language (``{"en": …}``)."""

    labelingSymbol: Uri
    labelingMeaning: dict[str, str]
    labelingSubject: Literal[
        "SeparateCollection", "HazardousMaterial", "CarbonFootPrint", "ExtinguishingAgent"
    ]


class Labeling(Part):
    """Symbols, labels and documentation of conformity (§6.2)."""

    declarationOfConformity: Uri
    resultOfTestReport: Uri
    labels: list[Label]


# --- PerformanceAndDurability --------------------------------------------------------------------


class PowerCapability(Part):
    """Power capability [kW] at a state of charge [%]."""

    atSoC: float
    powerCapabilityAt: float


class InitialResistance(Part):
    """Initial internal resistance [Ω] of a pack, module or cell."""

    ohmicResistance: float
    batteryComponent: Component


class TechnicalProperties(Part):
    """``BatteryTechnicalPropertiesEntity``: the model's rated values (static)."""

    originalPowerCapability: list[PowerCapability]
    ratedMaximumPower: float
    powerCapabilityRatio: float
    ratedEnergy: float
    expectedNumberOfCycles: float = Field(ge=-(2**63), le=2**63 - 1)
    initialSelfDischarge: float
    roundtripEfficiency: float
    ratedCapacity: float
    initialInternalResistance: list[InitialResistance]
    expectedLifetime: float = Field(ge=-(2**15), le=2**15 - 1)
    cRate: float | None = None
    nominalVoltage: float
    minimumVoltage: float
    maximumVoltage: float
    capacityThresholdForExhaustion: float
    lifetimeReferenceTest: Uri
    cRateLifeCycleTest: float
    temperatureRangeIdleState: float = Field(ge=-20, le=60)


class CapacityThroughput(Part):
    """Capacity throughput [A·h]."""

    capacityThroughputValue: float
    lastUpdate: Timestamp


class NumberOfFullCycles(Part):
    """Full equivalent charge–discharge cycles."""

    numberOfFullCyclesValue: float
    lastUpdate: Timestamp


class StateOfCertifiedEnergy(Part):
    """State of certified energy (SOCE) [%]."""

    stateOfCertifiedEnergyValue: float
    lastUpdate: Timestamp


class CapacityFade(Part):
    """Capacity fade [%] from the rated capacity."""

    capacityFadeValue: float
    lastUpdate: Timestamp


class RemainingEnergy(Part):
    """Remaining usable energy [kWh] (``remainingEnergyalue``: the standard's spelling)."""

    remainingEnergyalue: float
    lastUpdate: Timestamp


class RemainingCapacity(Part):
    """Remaining capacity [A·h]."""

    remainingCapacityValue: float
    lastUpdate: Timestamp


class NegativeEvent(Part):
    """A harmful event (deep discharge, accident, damage found)."""

    negativeEvent: str
    lastUpdate: Timestamp


class TemperatureInformation(Part):
    """Cumulated time [min] beyond the temperature limits, at rest and charging."""

    timeExtremeHighTemp: float
    timeExtremeLowTemp: float
    timeExtremeHighTempCharging: float
    timeExtremeLowTempCharging: float
    lastUpdate: Timestamp


class PowerCapabilityValue(Part):
    """A remaining power capability [kW] at a state of charge [%]."""

    rPCLastUpdated: Timestamp
    atSoC: float
    powerCapabilityAt: float


class RemainingPowerCapability(Part):
    """Remaining power capability entry."""

    remainingPowerCapabilityValue: PowerCapabilityValue
    lastUpdate: Timestamp


class EvolutionOfSelfDischarge(Part):
    """Change of the self-discharge rate from its initial value [%]."""

    evolutionOfSelfDischargeEntityValue: float


class CurrentSelfDischargingRate(Part):
    """Current self-discharge rate [% per month]."""

    currentSelfDischargingRateEntity: float
    lastUpdate: Timestamp


class ResistanceIncrease(Part):
    """Internal resistance increase [%] from the initial value, per component level."""

    internalResistanceIncreaseValue: float
    lastUpdate: Timestamp
    batteryComponent: Component


class RemainingRoundTripEnergyEfficiency(Part):
    """Remaining round-trip energy efficiency [%]."""

    remainingRoundTripEnergyEfficiencyValue: float
    lastUpdate: Timestamp


class StateOfCharge(Part):
    """State of charge [%]."""

    stateOfChargeValue: float
    lastUpdate: Timestamp


class BatteryCondition(Part):
    """``BatteryConditionEntity``: the individual battery's dynamic state."""

    energyThroughput: float
    capacityThroughput: CapacityThroughput
    numberOfFullCycles: NumberOfFullCycles
    stateOfCertifiedEnergy: StateOfCertifiedEnergy
    capacityFade: CapacityFade
    remainingEnergy: RemainingEnergy
    remainingCapacity: RemainingCapacity
    negativeEvents: list[NegativeEvent]
    temperatureInformation: TemperatureInformation
    remainingPowerCapability: list[RemainingPowerCapability]
    powerFade: float
    roundTripEfficiencyFade: float
    evolutionOfSelfDischarge: EvolutionOfSelfDischarge
    currentSelfDischargingRate: CurrentSelfDischargingRate
    internalResistanceIncrease: list[ResistanceIncrease]
    roundTripEfficiencyat50PerCentCycleLife: float
    remainingRoundTripEnergyEfficiency: RemainingRoundTripEnergyEfficiency
    stateOfCharge: StateOfCharge


class PerformanceAndDurability(Part):
    """Performance and durability (§6.7)."""

    batteryTechicalProperties: TechnicalProperties
    batteryCondition: BatteryCondition


# --- SupplyChainDueDiligence ---------------------------------------------------------------------


class SupplyChainDueDiligence(Part):
    """Supply-chain due diligence (Art. 52; §6.4)."""

    supplyChainDueDiligenceReport: Uri
    thirdPartyAussurances: Uri | None = None
    supplyChainIndicies: float | None = None


SectionName = Literal[
    "GeneralProductInformation",
    "CarbonFootprint",
    "Circularity",
    "MaterialComposition",
    "Performance",
    "Labels",
    "SupplyChainDueDiligence",
]

SECTION_MODELS: dict[SectionName, type[Part]] = {
    "GeneralProductInformation": GeneralProductInformation,
    "CarbonFootprint": CarbonFootprintForBatteries,
    "Circularity": Circularity,
    "MaterialComposition": MaterialComposition,
    "Performance": PerformanceAndDurability,
    "Labels": Labeling,
    "SupplyChainDueDiligence": SupplyChainDueDiligence,
}
"""Section (the folder name in the Battery Pass release) → its model."""

BATTERYPASS_VERSION = "1.2.0"


def member_at(document: dict[str, Any], path: str) -> Any:
    """The value at a dotted member path (``Section.member.sub``) of a document, or ``None``."""
    node: Any = document
    for member in path.split("."):
        node = node.get(member) if isinstance(node, dict) else None
    return node


def aspect_urn(section: SectionName) -> str:
    """The SAMM aspect-model URN of a section, version pinned (e.g. ``…Performance:1.2.0#…``)."""
    return (
        f"urn:samm:io.BatteryPass.{section}:{BATTERYPASS_VERSION}#"
        f"{SECTION_MODELS[section].__name__}"
    )
