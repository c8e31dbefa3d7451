"""Reading generated PDFs back in tests: rasterised pages and their text."""

from __future__ import annotations

import pypdfium2 as pdfium
from PIL import Image


def read_pdf(data: bytes) -> tuple[list[Image.Image], list[str]]:
    """Rasterise every page (about 216 dpi) and extract each page's text."""
    doc = pdfium.PdfDocument(data)
    images, texts = [], []
    try:
        for page in doc:
            images.append(page.render(scale=3).to_pil())
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
    finally:
        doc.close()
    return images, texts
