from google import genai
from google.genai import types

with open("small-sample.jpg", "rb") as f:
    image_bytes = f.read()

client = genai.Client()
response = client.models.generate_content(
    model="gemini-2.5-flash",
    contents=[
        types.Part.from_bytes(
            data=image_bytes,
            mime_type="image/jpeg",
        ),
        "Caption this image.",
    ],
)

print(response.text)
