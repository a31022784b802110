import assert from "node:assert/strict";
import { test } from "node:test";
import { extras } from "../src/api/editorExtras";
import type { ImageList, UploadedImage } from "../src/api/types.gen";
import { addImage, imageOf, loadImages, mediaNow, withAdded } from "../src/components/media/mediaStore";

const image = (id: string): UploadedImage => ({
  artifact_id: id,
  bytes: 10,
  created_at: "2026-12-04T00:00:00Z",
  height: 48,
  media_type: "image/png",
  name: `${id}.png`,
  signed_url: `/api/artifacts/${id}?sig=x`,
  url: `/api/artifacts/${id}`,
  width: 48,
});

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

test("an image uploaded while the list was on its way stays when the older list arrives", async () => {
  let answer: (list: ImageList) => void = () => undefined;
  extras.images = () => new Promise<ImageList>((resolve) => (answer = resolve));
  loadImages(true); // the page opens: the list is asked for
  addImage(image("uploaded")); // the upload answers first (a slow listing, a busy server)
  answer({ images: [image("older")] }); // the list left the server before the upload
  await settled();
  assert.deepEqual(
    mediaNow().images.map((i) => i.artifact_id),
    ["uploaded", "older"],
  );
  assert.equal(imageOf(mediaNow().images, "uploaded")?.width, 48, "the scene's thumbnail finds its image");
});

test("a list that already holds the upload keeps it once", () => {
  assert.deepEqual(
    withAdded([image("a"), image("b")], [image("b")]).map((i) => i.artifact_id),
    ["a", "b"],
  );
});

test("a new listing forgets uploads it was not asked after (a removed image does not come back)", async () => {
  addImage(image("gone"));
  let answer: (list: ImageList) => void = () => undefined;
  extras.images = () => new Promise<ImageList>((resolve) => (answer = resolve));
  loadImages(true); // asked after the upload: the server's answer is the truth
  answer({ images: [image("kept")] });
  await settled();
  assert.deepEqual(
    mediaNow().images.map((i) => i.artifact_id),
    ["kept"],
  );
});

for (const order of ["newer first", "older first"] as const) {
  test(`overlapping listings (${order}): the upload made between them stays, the older one is not taken`, async () => {
    const answers: ((list: ImageList) => void)[] = [];
    extras.images = () => new Promise<ImageList>((resolve) => answers.push(resolve));
    loadImages(true); // the page opens
    addImage(image("between")); // an upload answers
    loadImages(true); // "Choose stored" asks again while the first listing is out
    const [older, newer] = answers;
    assert.ok(older && newer, "both listings were asked for");
    const listings = {
      older: () => older({ images: [image("old")] }),
      newer: () => newer({ images: [image("between"), image("old")] }),
    };
    if (order === "newer first") listings.newer();
    else listings.older();
    await settled();
    const first = order === "newer first" ? "newer" : "older";
    assert.ok(imageOf(mediaNow().images, "between"), `the upload is gone after the ${first} listing`);
    if (order === "newer first") listings.older();
    else listings.newer();
    await settled();
    assert.deepEqual(
      mediaNow().images.map((i) => i.artifact_id),
      ["between", "old"],
    );
    assert.equal(mediaNow().loaded, "yes");
  });
}
