"""How a buyer's message becomes dialogue turns (the clause splitting is pure Python; the channel imports Rasa)."""
