from flask import render_template
from sqlalchemy import func, select

from audit.engine.queries import category_totals, last_run
from audit.engine.rule import yuan
from models import Person, Position, Workshop, db

from . import bp


@bp.get("/")
def index():
    counts = {
        "persons": db.session.scalar(select(func.count()).select_from(Person)),
        "positions": db.session.scalar(select(func.count()).select_from(Position)),
        "workshops": db.session.scalar(select(func.count()).select_from(Workshop)),
    }
    return render_template("index.html", counts=counts, totals=category_totals(), run=last_run(), yuan=yuan)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
