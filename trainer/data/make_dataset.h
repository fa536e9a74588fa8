// The dataset a recipe asks for: the mock when data.blend is empty, else the
// blend of its sources (the kind of each told by its files).
#pragma once

#include <memory>

#include "data/dataset.h"
#include "hetero/recipe.h"

namespace hetero {

enum class SourceKind { IndexedText, ImageTextShards };

// PREFIX.bin + PREFIX.idx, or a folder with .nv-meta/. Throws DataError
// naming the path and what was looked for.
SourceKind source_kind(const std::string& path);

// One source of the blend (position `ordinal` keys its shuffle).
std::unique_ptr<Dataset> open_source(const Recipe& recipe, const std::string& path, int ordinal);

std::unique_ptr<Dataset> make_dataset(const Recipe& recipe);

}  // namespace hetero
