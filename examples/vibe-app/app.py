"""Vibe: a tiny to-do app, built in an afternoon and deployed the same evening."""

import os

import requests
import stripe
from flask import Flask, jsonify, render_template, request

app = Flask(__name__)
app.config["SECRET_KEY"] = os.getenv("SECRET_KEY", "dev")

# TODO move to env before launch
stripe.api_key = "sk_live_U5KtUyOkJLNf0Of7yHHTBwS2"

DATABASE_URL = os.environ["DATABASE_URL"]
WEATHER_URL = "https://api.open-meteo.com/v1/forecast"

TODOS = []


@app.route("/")
def index():
    return render_template("index.html", todos=TODOS)


@app.route("/todos", methods=["POST"])
def add_todo():
    TODOS.append(request.form["title"])
    return jsonify(TODOS), 201


@app.route("/weather")
def weather():
    resp = requests.get(WEATHER_URL, params={"latitude": 52.5, "longitude": 13.4})
    return jsonify(resp.json())


@app.route("/checkout", methods=["POST"])
def checkout():
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": os.getenv("STRIPE_PRICE_ID"), "quantity": 1}],
        success_url=request.host_url + "thanks",
        cancel_url=request.host_url,
    )
    return jsonify({"url": session.url})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.getenv("PORT", "5000")), debug=True)
