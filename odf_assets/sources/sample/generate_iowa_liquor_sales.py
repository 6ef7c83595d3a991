"""Generates the bundled sample: synthetic rows in the schema of Iowa Liquor Sales.

The real dataset (data.iowa.gov, Socrata id ``m3tr-qhgy``, public domain) is one row per invoice
line of Class "E" liquor sold to Iowa retailers. This generator keeps its field names and value
shapes but invents every value, so the sample carries no licence question and stays small.
It is deterministic: ``python generate_iowa_liquor_sales.py`` rewrites the same file byte for byte.

A few realistic blemishes are injected on purpose so cleaning and checks have work to do:
about 1.5% of rows lack a county and about 0.5% are returns (negative bottles and dollars).
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

OUTPUT = Path(__file__).with_name("iowa_liquor_sales_2024q1.csv")
FIRST_DAY, LAST_DAY = date(2024, 1, 1), date(2024, 3, 31)
FIELDS = [
    "invoice_line_no",
    "date",
    "store",
    "name",
    "city",
    "county",
    "category_name",
    "vendor_name",
    "im_desc",
    "bottle_volume_ml",
    "state_bottle_retail",
    "sale_bottles",
    "sale_dollars",
    "sale_liters",
]
STORES = [
    (2190, "Central City Liquor", "Des Moines", "Polk"),
    (2633, "Hy-Vee #3 Food and Drugstore", "Des Moines", "Polk"),
    (4829, "Central City 2", "Des Moines", "Polk"),
    (2512, "Hy-Vee Wine and Spirits", "Iowa City", "Johnson"),
    (3773, "Benz Distributing", "Cedar Rapids", "Linn"),
    (2625, "Hy-Vee Wine and Spirits #2", "Davenport", "Scott"),
    (3385, "Sam's Club 8162", "Cedar Rapids", "Linn"),
    (2248, "Ames Liquor, Tobacco & Beer", "Ames", "Story"),
    (4167, "Fareway Stores #124", "Sioux City", "Woodbury"),
    (2620, "Hy-Vee Food Store", "Waterloo", "Black Hawk"),
]
ITEMS = [
    ("Canadian Whiskies", "Diageo Americas", "Crown Royal", 750, 32.99),
    ("American Vodkas", "Fifth Generation Inc", "Titos Handmade Vodka", 1000, 26.24),
    ("Straight Bourbon Whiskies", "Heaven Hill Brands", "Evan Williams Black", 1750, 28.50),
    ("Spiced Rum", "Diageo Americas", "Captain Morgan Original Spiced", 750, 17.24),
    ("Whiskey Liqueur", "Sazerac Company Inc", "Fireball Cinnamon Whiskey", 1000, 20.99),
    ("100% Agave Tequila", "Proximo", "Jose Cuervo Tradicional Silver", 750, 26.99),
    ("Imported Vodkas", "Pernod Ricard USA", "Absolut Swedish Vodka 80prf", 1750, 35.99),
    ("Tennessee Whiskies", "Brown Forman Corp.", "Jack Daniels Old #7 Black Label", 750, 26.24),
]


def rows(seed: int = 20240101):
    rng = random.Random(seed)
    day, line = FIRST_DAY, 0
    while day <= LAST_DAY:
        # Fewer deliveries at weekends, more late in the week, like the real data.
        per_day = {5: 20, 6: 8}.get(day.weekday(), 45 + 6 * day.weekday())
        for _ in range(per_day + rng.randint(-5, 5)):
            line += 1
            store, name, city, county = rng.choice(STORES)
            category, vendor, item, volume_ml, retail = rng.choice(ITEMS)
            bottles = rng.choice([1, 2, 3, 6, 6, 12, 12, 24])
            if rng.random() < 0.005:
                bottles = -bottles  # a return
            yield {
                "invoice_line_no": f"INV-{day:%y%m%d}{line:06d}",
                "date": day.isoformat(),
                "store": store,
                "name": name,
                "city": city,
                "county": "" if rng.random() < 0.015 else county,
                "category_name": category,
                "vendor_name": vendor,
                "im_desc": item,
                "bottle_volume_ml": volume_ml,
                "state_bottle_retail": f"{retail:.2f}",
                "sale_bottles": bottles,
                "sale_dollars": f"{bottles * retail:.2f}",
                "sale_liters": f"{bottles * volume_ml / 1000:.2f}",
            }
        day += timedelta(days=1)


def main() -> None:
    with open(OUTPUT, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
